"""The JSON bodies of the REST API: requests are validated with these, responses built from
them, and the OpenAPI document takes its schemas from them (one source for all three)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema

Role = Literal["member", "admin", "auditor"]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reply(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- errors ---------------------------------------------------------------------------------


class ErrorDetail(Reply):
    code: str = Field(description="Stable machine-readable code, e.g. not_found.")
    message: str


class ErrorOut(Reply):
    error: ErrorDetail
    request_id: str | None = None


# --- requests -------------------------------------------------------------------------------


class CaseCreate(Request):
    reference: str = Field(min_length=1, max_length=100, description="e.g. a URN; unique in your force")
    title: str = Field(min_length=1, max_length=300)
    require_encryption: bool = True


class BundleCreate(Request):
    name: str = Field(min_length=1, max_length=200)


class BundleFileAdd(Request):
    file_id: str


class SubjectIn(Request):
    type: Literal["user", "group", "organisation"] = Field(
        description="A group or organisation grant reaches all its members."
    )
    id: str


class GrantCreate(Request):
    relation: str = Field(
        description="On a case: custodian, prosecutor, contributor, blocked. "
        "On a bundle: defence, viewer, downloader, blocked."
    )
    subject: SubjectIn
    not_before: AwareDatetime | None = Field(None, description="Counts from this instant (inclusive).")
    expires_at: AwareDatetime | None = Field(None, description="No longer counts at this instant; fixed.")


class GroupCreate(Request):
    name: str = Field(min_length=1, max_length=200)


class GroupMemberAdd(Request):
    user_id: str | None = None
    group_id: str | None = Field(None, description="A nested group of the same organisation.")


class UserCreate(Request):
    email: str = Field(min_length=3, max_length=320)
    role: Role = "member"


class UserUpdate(Request):
    role: Role | None = None
    disabled: Literal[True] | None = Field(None, description="true disables the user (not undone here).")


class LinkCreate(Request):
    note: str = Field("", max_length=2000, description="Shown to whoever holds the link.")
    expires_at: AwareDatetime
    max_files: int = Field(ge=1)
    max_bytes: int = Field(ge=1)


# --- replies --------------------------------------------------------------------------------


class Me(Reply):
    user_id: str
    org_id: str
    org_kind: str
    role: Role


class OrgOut(Reply):
    id: str
    name: str
    kind: str


class UserOut(Reply):
    id: str
    email: str
    org_id: str
    role: Role
    disabled: bool
    created_at: datetime


class GroupOut(Reply):
    id: str
    org_id: str
    name: str
    created_at: datetime


class MemberOut(Reply):
    id: str = Field(description="The membership id (remove it with DELETE).")
    group_id: str
    user_id: str | None
    member_group_id: str | None
    added_at: datetime


class CaseOut(Reply):
    id: str
    org_id: str
    reference: str
    title: str
    require_encryption: bool
    created_at: datetime
    permissions: list[str] = Field(description="What the caller may do with it, e.g. can_manage.")


class BundleOut(Reply):
    id: str
    case_id: str
    name: str
    created_at: datetime
    permissions: list[str]


class FileOut(Reply):
    id: str
    upload_id: str
    case_id: str | None = Field(description="null for a personal upload (its owner's only)")
    exhibit_ref: str | None
    size: int
    sha256: str
    filename: str | None
    metadata: dict[str, Any]
    created_at: datetime
    permissions: list[str]
    encrypted: bool = Field(description="end-to-end encrypted: the bytes are ciphertext (docs/e2e.md)")


class GrantOut(Reply):
    id: str
    object_type: str
    object_id: str
    relation: str
    subject_type: str
    subject_id: str
    not_before: datetime | None
    expires_at: datetime | None
    created_by: str | None
    created_at: datetime
    active: bool = Field(description="Inside its window now.")


class LinkOut(Reply):
    id: str
    case_id: str
    note: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    max_files: int
    max_bytes: int
    files_used: int
    bytes_used: int
    revoked: bool


class LinkCreated(LinkOut):
    token: str = Field(description="Shown once. Send as 'Authorization: Link <token>'.")


class LinkHolderView(Reply):
    """What the holder of a request link sees: the note and what the link still takes."""

    note: str
    expires_at: datetime
    files_left: int
    bytes_left: int


class OrgPage(Reply):
    items: list[OrgOut]
    next: str | None


class UserPage(Reply):
    items: list[UserOut]
    next: str | None


class GroupPage(Reply):
    items: list[GroupOut]
    next: str | None


class MemberPage(Reply):
    items: list[MemberOut]
    next: str | None


class CasePage(Reply):
    items: list[CaseOut]
    next: str | None


class BundlePage(Reply):
    items: list[BundleOut]
    next: str | None


class FilePage(Reply):
    items: list[FileOut]
    next: str | None


class GrantPage(Reply):
    items: list[GrantOut]
    next: str | None


class LinkPage(Reply):
    items: list[LinkOut]
    next: str | None


class Health(Reply):
    status: str
    checks: dict[str, str] | None = None


# --- audit (docs/audit.md §7) ---


class LogKeyOut(Reply):
    verifier_key: str = Field(description="The log's Ed25519 note verifier key (C2SP signed-note)")
    origin: str


class CheckpointOut(Reply):
    size: int
    root: str = Field(description="base64 RFC 9162 root hash")
    note: str = Field(description="The C2SP signed checkpoint note, verbatim")


class CheckpointPage(Reply):
    items: list[CheckpointOut]
    next: str | None


class AuditEventOut(Reply):
    seq: int = Field(description="The leaf index")
    entry: str = Field(description="base64 of the exact hashed entry bytes (canonical JSON)")
    leaf_hash: str = Field(description="base64 SHA-256(0x00 || entry)")


class AuditEventPage(Reply):
    items: list[AuditEventOut]
    next: str | None


class LeafOut(Reply):
    seq: int
    leaf_hash: str


class LeafPage(Reply):
    items: list[LeafOut]
    next: str | None


class ProofOut(Reply):
    size: int
    proof: list[str] = Field(description="base64 hashes, RFC 9162 order")


class CosignatureIn(Request):
    size: int = Field(ge=0, description="The size of the stored checkpoint cosigned")
    signature: str = Field(max_length=1000, description="The witness's note signature line (— name base64)")


class CosignatureOut(Reply):
    size: int
    witness: str = Field(description="The witness's verifier key")


# --- end-to-end encryption (docs/e2e.md): binary values are standard base64 ---


def _from_base64(value: Any) -> bytes:
    if isinstance(value, bytes):  # a reply built from a dataclass
        return value
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("not valid base64") from None


B64 = Annotated[
    bytes,
    PlainValidator(_from_base64),
    PlainSerializer(lambda data: base64.b64encode(data).decode("ascii"), return_type=str),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]
MAX_ROWS = 1000


class KeyRegister(Request):
    signing_key: B64 = Field(description="Ed25519 public key (32 bytes)")
    encryption_key: B64 = Field(description="X25519 public key (32 bytes)")


class KeyOut(Reply):
    key_id: str = Field(description="hex of the format's 16-byte key id")
    user_id: str
    org_id: str
    signing_key: B64
    encryption_key: B64
    certificate: B64 | None = Field(description="Set once an admin of the organisation certifies the key")
    intermediates: list[B64] = Field(description="Certificates of the organisation's certifying admins")
    revocations: list[B64] = Field(description="Every revocation of the organisation's keys")
    created_at: datetime
    certified_at: datetime | None
    revoked_at: datetime | None


class KeyPage(Reply):
    items: list[KeyOut]
    next: str | None


class CertificateIn(Request):
    certificate: B64 = Field(description="docs/format.md §8")


class RevocationIn(Request):
    revocation: B64 = Field(description="docs/format.md §9")


class OrgKeyIn(Request):
    public_key: B64 = Field(description="The organisation root's Ed25519 public key")


class OrgKeyOut(Reply):
    org_id: str
    public_key: B64
    key_id: str
    created_at: datetime


class EnvelopeIn(Request):
    header: B64 = Field(description="The signed header (docs/format.md §6)")
    wrapped_key: B64 = Field(description="The file key sealed to the uploader's own key (§10)")


class EnvelopeOut(Reply):
    file_id: str
    version: int
    header: B64
    uploader: KeyOut
    created_at: datetime = Field(description="When the header was stored: check the uploader's certificate then")


class HeldKeyOut(Reply):
    wrapped_key: B64
    recipient_key_id: str
    granter: KeyOut
    created_at: datetime = Field(description="When the row was stored: check the granter's certificate then")


class HeldKeyList(Reply):
    items: list[HeldKeyOut]


class WrappedKeysIn(Request):
    wrapped_keys: list[B64] = Field(min_length=1, max_length=MAX_ROWS)


class WrappedKeysAdded(Reply):
    added: int
    skipped: int = Field(description="Rows for recipients who hold one already")


class KeyRequestOut(Reply):
    id: str
    file_id: str
    requester: KeyOut
    created_at: datetime


class KeyRequestPage(Reply):
    items: list[KeyRequestOut]
    next: str | None
