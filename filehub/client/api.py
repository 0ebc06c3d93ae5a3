"""A thin aiohttp wrapper: the bearer token on every request, JSON in and out, the server's
``{"error": {code, message}}`` as an ``ApiError``, and retries with backoff for what is
worth retrying (a dropped connection, a 5xx, a 423 lock held by a dying request)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from filehub.client import ClientError

T = TypeVar("T")
TUS = {"Tus-Resumable": "1.0.0"}
RETRY_STATUSES = frozenset({423, 500, 502, 503, 504})
TRANSPORT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)


class ApiError(ClientError):
    def __init__(self, status: int, code: str, message: str, method: str = "", path: str = ""):
        super().__init__(f"{method} {path}: HTTP {status} {code}: {message}".strip())
        self.status, self.code, self.message = status, code, message

    @property
    def retryable(self) -> bool:
        return self.status in RETRY_STATUSES


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, TRANSPORT_ERRORS) or isinstance(exc, ApiError) and exc.retryable


async def with_retries(
    action: Callable[[], Awaitable[T]], *, attempts: int = 8, base_delay: float = 0.25, max_delay: float = 15.0
) -> T:
    """Run ``action`` again after retryable failures, with jittered exponential backoff."""
    for attempt in range(attempts):
        try:
            return await action()
        except Exception as exc:
            if not retryable(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(min(max_delay, base_delay * 2**attempt) * (0.5 + random.random()))
    raise AssertionError("unreachable")


async def error_of(response: aiohttp.ClientResponse) -> ApiError:
    code, message = "http_error", response.reason or ""
    try:
        body = await response.json(content_type=None)
        code, message = body["error"]["code"], body["error"]["message"]
    except Exception:  # not the JSON error shape (a proxy's page, a HEAD without a body)
        pass
    return ApiError(response.status, str(code), str(message)[:500], response.method, response.url.path)


class Api:
    """One server and one token. Use as ``async with Api(url, token) as api``."""

    def __init__(self, url: str, token: str, *, timeout: float = 300.0):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=timeout)
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Api:
        self.session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    def absolute(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else f"{self.url}{path_or_url}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The raw aiohttp request context manager (for streaming bodies)."""
        assert self.session is not None, "use Api as an async context manager"
        return self.session.request(method, self.absolute(path), **kwargs)

    async def call(self, method: str, path: str, json: Any = None, *, expect: tuple[int, ...] = (200, 201, 204),
                   params: dict[str, str] | None = None) -> Any:
        """One JSON request, retried on transient failures; the decoded reply (None if empty)."""

        async def once() -> Any:
            async with self.request(method, path, json=json, params=params) as response:
                if response.status not in expect:
                    raise await error_of(response)
                if response.status == 204 or not response.content_length and response.content_type != "application/json":
                    return None
                return await response.json(content_type=None)

        return await with_retries(once)

    async def get(self, path: str, **params: str) -> Any:
        return await self.call("GET", path, params=params or None)

    async def pages(self, path: str, **params: str) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged listing (``{items, next}``, ``?after=``)."""
        after: str | None = None
        while True:
            query = {**params, "limit": "500", **({"after": after} if after else {})}
            page = await self.call("GET", path, params=query)
            for item in page["items"]:
                yield item
            after = page.get("next")
            if not after:
                return
