"""The seam for the audit trail (issue 5): what happened, recorded in the action's transaction.

Every grant, revoke and domain change calls ``EventRecorder.record(session, event)`` inside
the database transaction that makes the change, so an event exists exactly when its change
does (DESIGN.md §4). The composition root injects ``audit.log.AuditLog``
(the tamper-evident log); ``NO_AUDIT`` remains for tests of services in isolation. The
client address, user agent and request id come from ``REQUEST_CONTEXT``, a context
variable set per request by the web layer. Pure: no IO here.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class AuditEvent:
    action: str  # e.g. "authz.grant", "authz.revoke", "case.create", "bundle.add_file"
    actor_id: str | None  # the user; None for the administrator's CLI and the system
    object: str  # "case:<id>", "bundle:<id>", "group:<id>", ...
    detail: dict[str, Any] = field(default_factory=dict)
    outcome: str = "success"  # success|denied|failure
    actor_org: str | None = None  # None: the actor's organisation is looked up


@dataclass(frozen=True)
class RequestContext:
    """Where an action came from; set once per HTTP request by the web layer."""

    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None


REQUEST_CONTEXT: ContextVar[RequestContext] = ContextVar("filehub_request_context", default=RequestContext())


class EventRecorder(Protocol):
    async def record(self, session: Any, event: AuditEvent) -> Any:
        """Append ``event`` in ``session``'s transaction (an AsyncSession); raise to abort it."""
        ...

    async def record_many(self, session: Any, events: Sequence[AuditEvent]) -> Any:
        """Append ``events`` in order, as that many ``record`` calls would (in fewer statements)."""
        ...


class _NoAudit:
    async def record(self, session: Any, event: AuditEvent) -> None:
        return None

    async def record_many(self, session: Any, events: Sequence[AuditEvent]) -> None:
        return None


NO_AUDIT: EventRecorder = _NoAudit()
