"""Tables only. Changes go through an alembic migration in migrations/versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


ID = String(32)


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # police|prosecution|defence|court|audit
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    role: Mapped[str] = mapped_column(String(20))  # member|admin|auditor
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    # SHA-256 of a 256-bit random secret: a slow hash adds nothing at that entropy.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class UploadRecord(Base):
    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    length: Mapped[int | None] = mapped_column(BigInteger, default=None)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    concat: Mapped[str | None] = mapped_column(String(10), default=None)  # partial|final
    partial_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(12), default="active")
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by the upload policy at creation: the case the file will belong to, and the
    # evidence request link it came through (then owner_id is the link's creator).
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), default=None)
    link_id: Mapped[str | None] = mapped_column(ForeignKey("request_links.id"), default=None)

    __table_args__ = (Index("ix_uploads_state_expires_at", "state", "expires_at"),)


class FileRecord(Base):
    __tablename__ = "files"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"), unique=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Null for personal uploads (visible to their owner only) and files from before cases.
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), index=True, default=None)
    exhibit_ref: Mapped[str | None] = mapped_column(String(100), default=None)


# --- cases, bundles, groups, request links, and the authorisation tuples (docs/authz.md) ---
# Who may do what is decided by relation tuples alone. The tables below that mirror a
# relation (a group's members, a bundle's files) share the id of their tuple and are written
# in the same transaction: the row gives referential integrity, the tuple the decision.


class Group(Base):
    __tablename__ = "groups"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "name"),)


class GroupMember(Base):
    """`group:<group_id>#member@user:<user_id>` or `...@group:<member_group_id>#member`."""

    __tablename__ = "group_members"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # = the relation tuple's id
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    member_group_id: Mapped[str | None] = mapped_column(ForeignKey("groups.id"), default=None)
    added_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (member_group_id IS NULL)", name="one_member"),
        UniqueConstraint("group_id", "user_id"),
        UniqueConstraint("group_id", "member_group_id"),
    )


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))  # the owning force
    reference: Mapped[str] = mapped_column(String(100))  # e.g. a URN, unique per organisation
    title: Mapped[str] = mapped_column(String(300))
    require_encryption: Mapped[bool] = mapped_column(Boolean, default=True)  # enforced from issue 6
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("org_id", "reference"),)


class Bundle(Base):
    __tablename__ = "bundles"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("case_id", "name"),)


class BundleFile(Base):
    """`file:<file_id>#bundle@bundle:<bundle_id>`: a file may sit in several bundles."""

    __tablename__ = "bundle_files"
    id: Mapped[str] = mapped_column(ID, primary_key=True)  # = the relation tuple's id
    bundle_id: Mapped[str] = mapped_column(ForeignKey("bundles.id"))
    file_id: Mapped[str] = mapped_column(ForeignKey("files.id"), index=True)
    added_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("bundle_id", "file_id"),)


class RequestLink(Base):
    """An expiring, upload-only link into one case for someone without an account."""

    __tablename__ = "request_links"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256, as API tokens
    note: Mapped[str] = mapped_column(Text, default="")  # shown to the uploader
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    max_files: Mapped[int] = mapped_column(Integer)
    max_bytes: Mapped[int] = mapped_column(BigInteger)
    files_used: Mapped[int] = mapped_column(Integer, default=0)  # uploads started through it
    bytes_used: Mapped[int] = mapped_column(BigInteger, default=0)  # their declared lengths
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)


class RelationTupleRow(Base):
    """`object#relation@subject[#relation]` valid over [not_before, expires_at).

    Rows are never deleted: a revoke sets revoked_at. ``version`` is the authz_version value
    of the transaction that last changed the row (its creation or its revocation), so an
    instance catches up with ``version > last seen`` (filehub/authz/service.py).
    """

    __tablename__ = "relation_tuples"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(128))
    relation: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(128))
    subject_relation: Mapped[str | None] = mapped_column(String(64), default=None)
    not_before: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    version: Mapped[int] = mapped_column(BigInteger, index=True)

    __table_args__ = (
        Index("ix_relation_tuples_object", "object_type", "object_id", "relation"),
        Index("ix_relation_tuples_subject", "subject_type", "subject_id", "subject_relation"),
    )


class AuthzVersion(Base):
    """One row. Every transaction that writes or revokes tuples increments it first; the row
    lock that takes serialises those transactions, so version order is commit order."""

    __tablename__ = "authz_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


# --- audit trail (issue 5; docs/audit.md). Insert-only: triggers refuse UPDATE/DELETE. ---


class AuditEventRecord(Base):
    """One leaf of the Merkle log. ``seq`` is the leaf index, gap-free in commit order;
    ``entry`` is the exact hashed bytes (canonical JSON), the other columns are indexes."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(ID, unique=True)
    time: Mapped[datetime] = mapped_column(index=True)
    actor_user: Mapped[str | None] = mapped_column(String(32), index=True)
    actor_org: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(128))
    object_org: Mapped[str | None] = mapped_column(String(32), index=True)
    outcome: Mapped[str] = mapped_column(String(10))
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("ix_audit_events_object", "object_type", "object_id"),)


class AuditTreeNode(Base):
    """A complete subtree (level >= 1) of the Merkle log; level 0 is audit_events.leaf_hash."""

    __tablename__ = "audit_tree_nodes"
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditHead(Base):
    """One row: the log's size and frontier (peaks, 32 bytes each). Locked by every append,
    which serialises appends across instances; derived data, so it may be updated."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    peaks: Mapped[bytes] = mapped_column(LargeBinary)


class AuditCheckpoint(Base):
    """A signed checkpoint (C2SP note) of the tree at ``size``."""

    __tablename__ = "audit_checkpoints"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditCosignature(Base):
    """A witness's cosignature line for the checkpoint of ``size`` (verified on receipt)."""

    __tablename__ = "audit_cosignatures"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(300), primary_key=True)  # the verifier key string
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLogKey(Base):
    """One row: the log signing key generated on first start (unless audit_log_key is set)."""

    __tablename__ = "audit_log_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signer_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- end-to-end encryption (issue 6; docs/e2e.md). Public keys and signed blobs only: the
# server holds no private key and no file key. ---


class UserKey(Base):
    """A user's public identity (docs/format.md §7), its certificate and its revocation."""

    __tablename__ = "user_keys"
    key_id: Mapped[str] = mapped_column(ID, primary_key=True)  # hex of the format's 16-byte key id
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    signing_key: Mapped[bytes] = mapped_column(LargeBinary)  # Ed25519, 32 bytes
    encryption_key: Mapped[bytes] = mapped_column(LargeBinary)  # X25519, 32 bytes
    certificate: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    may_certify: Mapped[bool] = mapped_column(Boolean, default=False)  # from the certificate
    certified_at: Mapped[datetime | None] = mapped_column(default=None)
    certified_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    revocation: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrgRootKeyRecord(Base):
    """An organisation's root public key, published for convenience (clients pin it)."""

    __tablename__ = "org_root_keys"
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(ID)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FileEnvelope(Base):
    """The signed header of an encrypted upload (and of the file it becomes: same id)."""

    __tablename__ = "file_envelopes"
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    header: Mapped[bytes] = mapped_column(LargeBinary)
    uploader_key_id: Mapped[str] = mapped_column(ForeignKey("user_keys.key_id"))
    plaintext_length: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WrappedKeyRecord(Base):
    """One signed wrapped-key row (docs/format.md §10) per (file, recipient key)."""

    __tablename__ = "wrapped_keys"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"))
    recipient_key_id: Mapped[str] = mapped_column(ForeignKey("user_keys.key_id"))
    recipient_user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    granter_key_id: Mapped[str] = mapped_column(ForeignKey("user_keys.key_id"))
    granted_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    row: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("upload_id", "recipient_key_id"),)


class KeyRequestRecord(Base):
    """A certified key whose owner may download a file but holds no row for it yet."""

    __tablename__ = "key_requests"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"))
    key_id: Mapped[str] = mapped_column(ForeignKey("user_keys.key_id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    fulfilled_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("upload_id", "key_id"),
        Index("ix_key_requests_pending", "fulfilled_at", "upload_id"),
    )
