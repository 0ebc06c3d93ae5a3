"""Prometheus metrics, one registry per application (so several apps can live in a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "filehub_http_requests",
            "HTTP requests served, by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "filehub_http_request_seconds",
            "Time to serve a request, by route and method.",
            ["route", "method"],
            registry=self.registry,
        )
        self.upload_bytes = Counter(
            "filehub_upload_bytes", "Upload bytes made durable.", registry=self.registry
        )
        self.reaped = Counter(
            "filehub_uploads_reaped", "Expired uploads whose storage was freed.", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
