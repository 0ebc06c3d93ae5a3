"""Cases and bundles: create, list and read what the caller may see (one transaction each).

A case belongs to the police force that opens it; its creator becomes its first custodian.
A bundle is a named set of files of one case (a file may sit in several bundles). The
structure is written as tuples in the same transaction as the rows (`case#owner_org`,
`case#custodian`, `bundle#case`, `file#bundle`), so the model sees it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from filehub.authz.model import ObjectRef, RelationTuple, SubjectRef
from filehub.authz.service import AuthzService, Decision
from filehub.db.models import Bundle, BundleFile, Case, FileRecord, utcnow
from filehub.db.session import Database
from filehub.errors import BadRequest, Conflict, Forbidden, NotFound
from filehub.events import NO_AUDIT, AuditEvent, EventRecorder
from filehub.ids import is_valid_id, new_id
from filehub.services.accounts import Principal
from filehub.services.pages import Page, PageRequest, page_of_ids

CASE_OPENERS = ("police",)  # organisation kinds whose members open cases
CASE_PERMISSIONS = ("can_view", "can_download", "can_upload", "can_manage", "can_share", "can_audit")
BUNDLE_PERMISSIONS = ("can_view", "can_download", "can_reshare")
MAX_REFERENCE = 100  # characters
MAX_TITLE = 300  # characters
MAX_BUNDLE_NAME = 200  # characters


@dataclass(frozen=True)
class CaseInfo:
    id: str
    org_id: str
    reference: str
    title: str
    require_encryption: bool
    created_at: datetime
    permissions: tuple[str, ...]  # what the caller may do with it


@dataclass(frozen=True)
class BundleInfo:
    id: str
    case_id: str
    name: str
    created_at: datetime
    permissions: tuple[str, ...]


def case_ref(case_id: str) -> ObjectRef:
    return ObjectRef("case", case_id if is_valid_id(case_id) else "invalid")


def bundle_ref(bundle_id: str) -> ObjectRef:
    return ObjectRef("bundle", bundle_id if is_valid_id(bundle_id) else "invalid")


def _text(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if not 0 < len(value) <= limit:
        raise BadRequest(f"{what} must be 1 to {limit} characters")
    return value


def permissions(decision: Decision, obj: ObjectRef, user_id: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names if decision.check(obj, name, user_id))


async def case_requires_encryption(session: AsyncSession, case_id: str) -> bool:
    """Whether the case takes end-to-end-encrypted files only (docs/e2e.md); unknown: yes."""
    required = await session.scalar(select(Case.require_encryption).where(Case.id == case_id))
    return required is not False


class Cases:
    def __init__(self, db: Database, authz: AuthzService, recorder: EventRecorder = NO_AUDIT) -> None:
        self._db, self._authz, self._recorder = db, authz, recorder

    # --- cases -------------------------------------------------------------------------------

    async def create_case(
        self, actor: Principal, reference: str, title: str, require_encryption: bool = True
    ) -> CaseInfo:
        if actor.org_kind not in CASE_OPENERS or actor.role == "auditor":
            raise Forbidden("only members of a police force open cases")
        case = Case(
            id=new_id(),
            org_id=actor.org_id,
            reference=_text(reference, "reference", MAX_REFERENCE),
            title=_text(title, "title", MAX_TITLE),
            require_encryption=require_encryption,
            created_by=actor.user_id,
            created_at=utcnow(),
        )
        obj = ObjectRef("case", case.id)
        structure = [
            RelationTuple(new_id(), obj, "owner_org", SubjectRef("organisation", actor.org_id)),
            RelationTuple(new_id(), obj, "custodian", SubjectRef("user", actor.user_id)),
        ]
        try:
            async with self._db.write() as session:
                session.add(case)
                await session.flush()
                await self._recorder.record(session, AuditEvent("case.create", actor.user_id, str(obj)))
                await self._authz.writer.add(session, structure, actor.user_id)
        except IntegrityError:
            raise Conflict(f"your organisation already has a case {case.reference!r}") from None
        return await self.get_case(actor.user_id, case.id)

    async def get_case(self, user_id: str, case_id: str) -> CaseInfo:
        decision = await self._authz.require(case_ref(case_id), "can_view", user_id)
        async with self._db.read() as session:
            case = await session.get(Case, case_id)
        if case is None:
            raise NotFound("no such case")
        return self._case_info(case, decision, user_id)

    async def list_cases(self, user_id: str, page: PageRequest) -> Page[CaseInfo]:
        decision = await self._authz.decision()
        ids, cursor = page_of_ids(decision.ids("case", "can_view", user_id), page)
        async with self._db.read() as session:
            rows = {c.id: c for c in await session.scalars(select(Case).where(self._db.among(Case.id, ids)))}
        return Page([self._case_info(rows[i], decision, user_id, many=True) for i in ids if i in rows], cursor)

    async def requires_encryption(self, case_id: str) -> bool:
        async with self._db.read() as session:
            return await case_requires_encryption(session, case_id)

    def _case_info(self, case: Case, decision: Decision, user_id: str, *, many: bool = False) -> CaseInfo:
        if many:  # a page: whole lists, once per permission
            held = decision.held("case", case.id, user_id, CASE_PERMISSIONS)
        else:
            held = permissions(decision, ObjectRef("case", case.id), user_id, CASE_PERMISSIONS)
        return CaseInfo(
            case.id, case.org_id, case.reference, case.title, case.require_encryption, case.created_at, held
        )

    # --- bundles -----------------------------------------------------------------------------

    async def create_bundle(self, user_id: str, case_id: str, name: str) -> BundleInfo:
        await self._authz.require(case_ref(case_id), "can_share", user_id)
        bundle = Bundle(
            id=new_id(),
            case_id=case_id,
            name=_text(name, "name", MAX_BUNDLE_NAME),
            created_by=user_id,
            created_at=utcnow(),
        )
        obj = ObjectRef("bundle", bundle.id)
        try:
            async with self._db.write() as session:
                session.add(bundle)
                await session.flush()
                await self._recorder.record(session, AuditEvent("bundle.create", user_id, str(obj), {"case": case_id}))
                link = RelationTuple(new_id(), obj, "case", SubjectRef("case", case_id))
                await self._authz.writer.add(session, [link], user_id)
        except IntegrityError:
            raise Conflict(f"the case already has a bundle named {bundle.name!r}") from None
        return await self.get_bundle(user_id, bundle.id)

    async def get_bundle(self, user_id: str, bundle_id: str) -> BundleInfo:
        decision = await self._authz.require(bundle_ref(bundle_id), "can_view", user_id)
        async with self._db.read() as session:
            bundle = await session.get(Bundle, bundle_id)
        if bundle is None:
            raise NotFound("no such bundle")
        return self._bundle_info(bundle, decision, user_id)

    async def list_bundles(self, user_id: str, case_id: str | None, page: PageRequest) -> Page[BundleInfo]:
        """Bundles the caller may view: of one case (which they must view), or anywhere."""
        if case_id is None:
            decision = await self._authz.decision()
        else:
            decision = await self._authz.require(case_ref(case_id), "can_view", user_id)
        visible = decision.ids("bundle", "can_view", user_id)
        if case_id is not None:
            async with self._db.read() as session:
                in_case = set(await session.scalars(select(Bundle.id).where(Bundle.case_id == case_id)))
            visible = visible & in_case
        ids, cursor = page_of_ids(visible, page)
        async with self._db.read() as session:
            rows = {b.id: b for b in await session.scalars(select(Bundle).where(self._db.among(Bundle.id, ids)))}
        return Page([self._bundle_info(rows[i], decision, user_id, many=True) for i in ids if i in rows], cursor)

    def _bundle_info(self, bundle: Bundle, decision: Decision, user_id: str, *, many: bool = False) -> BundleInfo:
        if many:
            held = decision.held("bundle", bundle.id, user_id, BUNDLE_PERMISSIONS)
        else:
            held = permissions(decision, ObjectRef("bundle", bundle.id), user_id, BUNDLE_PERMISSIONS)
        return BundleInfo(bundle.id, bundle.case_id, bundle.name, bundle.created_at, held)

    # --- a bundle's files --------------------------------------------------------------------

    async def bundle_file_ids(self, user_id: str, bundle_id: str) -> tuple[Decision, list[str]]:
        """The ids of the bundle's files (the caller must view the bundle), in id order."""
        decision = await self._authz.require(bundle_ref(bundle_id), "can_view", user_id)
        async with self._db.read() as session:
            ids = await session.scalars(
                select(BundleFile.file_id).where(BundleFile.bundle_id == bundle_id).order_by(BundleFile.file_id)
            )
            return decision, list(ids)

    async def add_file(self, user_id: str, bundle_id: str, file_id: str) -> None:
        decision = await self._authz.require(bundle_ref(bundle_id), "can_reshare", user_id)
        if not is_valid_id(file_id) or not decision.check(ObjectRef("file", file_id), "can_view", user_id):
            raise NotFound("no such file")
        row = BundleFile(id=new_id(), bundle_id=bundle_id, file_id=file_id, added_by=user_id, added_at=utcnow())
        obj = ObjectRef("file", file_id)
        try:
            async with self._db.write() as session:
                bundle_case = await session.scalar(select(Bundle.case_id).where(Bundle.id == bundle_id))
                file_case = await session.scalar(select(FileRecord.case_id).where(FileRecord.id == file_id))
                if file_case is None or file_case != bundle_case:
                    raise BadRequest("a bundle holds files of its own case only")
                session.add(row)
                await session.flush()
                detail = {"bundle": bundle_id}
                await self._recorder.record(session, AuditEvent("bundle.add_file", user_id, str(obj), detail))
                link = RelationTuple(row.id, obj, "bundle", SubjectRef("bundle", bundle_id))
                await self._authz.writer.add(session, [link], user_id)
        except IntegrityError:
            raise Conflict("the file is in the bundle already") from None

    async def remove_file(self, user_id: str, bundle_id: str, file_id: str) -> None:
        await self._authz.require(bundle_ref(bundle_id), "can_reshare", user_id)
        async with self._db.write() as session:
            row = await session.scalar(
                select(BundleFile).where(BundleFile.bundle_id == bundle_id, BundleFile.file_id == file_id)
            )
            if row is None:
                raise NotFound("no such file in this bundle")
            await session.execute(delete(BundleFile).where(BundleFile.id == row.id))
            detail = {"bundle": bundle_id}
            await self._recorder.record(session, AuditEvent("bundle.remove_file", user_id, f"file:{file_id}", detail))
            await self._authz.writer.revoke(session, [row.id], user_id)
