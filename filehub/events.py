"""The seam for the audit trail (issue 5): what happened, recorded in the action's transaction.

Every grant, revoke and domain change calls ``EventRecorder.record(session, event)`` inside
the database transaction that makes the change, so an event exists exactly when its change
does (DESIGN.md §4). Until the tamper-evident log arrives, the composition root injects
``NO_AUDIT``; ``audit.log`` will implement the same protocol. Pure: no IO here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class AuditEvent:
    action: str  # e.g. "authz.grant", "authz.revoke", "case.create", "bundle.add_file"
    actor_id: str | None  # the user; None for the administrator's CLI and the system
    object: str  # "case:<id>", "bundle:<id>", "group:<id>", ...
    detail: dict[str, Any] = field(default_factory=dict)


class EventRecorder(Protocol):
    async def record(self, session: Any, event: AuditEvent) -> None:
        """Append ``event`` in ``session``'s transaction (an AsyncSession); raise to abort it."""
        ...


class _NoAudit:
    async def record(self, session: Any, event: AuditEvent) -> None:
        return None


NO_AUDIT: EventRecorder = _NoAudit()
