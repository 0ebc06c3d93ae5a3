"""End-to-end encryption for server tests: what a client does, done with the pure format code
in memory (the client library and CLI have tests of their own)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from filehub.crypto.header import Metadata, seal_header, wrap_file_key
from filehub.crypto.keys import CertifiedKey, Identity, OrgRootKey, certify, revoke, verify_chain
from filehub.crypto.stream import Encryptor, Layout, PayloadCipher, new_file_key
from filehub.db.models import AuditEventRecord, Base, UploadRecord
from filehub.services.accounts import Principal
from filehub.storage.base import ByteRange
from filehub.web import keys
from tests.support.tusclient import OCTETS, TUS, path_of
from tests.support.world import Caller, World, b64

YEAR = 365 * 24 * 3600
ENCRYPTION = f"encryption {b64('filehub-e2e/1')}"


def enc(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Member:
    """A user with a certified identity."""

    caller: Caller
    identity: Identity
    org_id: str
    certificate: bytes

    @property
    def key_id(self) -> str:
        return self.identity.key_id.hex()

    def certified(self, root: OrgRootKey) -> CertifiedKey:
        return verify_chain(self.certificate, root.public_key, org_id=self.org_id, now=int(time.time()))


async def publish_root(admin: Caller, org_id: str) -> OrgRootKey:
    root = OrgRootKey.generate()
    await admin.call("PUT", f"/api/v1/organisations/{org_id}/root-key", {"public_key": enc(root.public_key)})
    return root


async def register(caller: Caller, identity: Identity | None = None) -> Identity:
    identity = identity or Identity.generate()
    body = {"signing_key": enc(identity.public.signing_key), "encryption_key": enc(identity.public.encryption_key)}
    await caller.call("POST", "/api/v1/keys", body, 201)
    return identity


def certificate_for(identity: Identity, root: OrgRootKey, org_id: str, user_id: str, **extra: int) -> bytes:
    now = int(time.time())
    return certify(identity.public, org_id=org_id, user_id=user_id, not_before=now - 60,
                   not_after=now + YEAR, issuer=root, **extra)  # type: ignore[arg-type]


async def certified_member(caller: Caller, admin: Caller, root: OrgRootKey, org_id: str) -> Member:
    identity = await register(caller)
    certificate = certificate_for(identity, root, org_id, caller.user_id or "")
    await admin.call("PUT", f"/api/v1/keys/{identity.key_id.hex()}/certificate", {"certificate": enc(certificate)})
    return Member(caller, identity, org_id, certificate)


def revocation_of(identity: Identity) -> bytes:
    return revoke(identity.key_id, effective_from=int(time.time()) - 1, signer=identity)


@dataclass
class Sealed:
    file_key: bytes
    ciphertext: bytes
    header: bytes
    own_row: bytes


def seal(data: bytes, file_id: str, uploader: Member, root: OrgRootKey, name: str = "cctv.mp4") -> Sealed:
    fid, fk = bytes.fromhex(file_id), new_file_key()
    encryptor = Encryptor(PayloadCipher.for_file(fk, fid, 1))
    chunks = encryptor.update(data)
    chunks.append(encryptor.finish())
    metadata = Metadata(name, "video/mp4", hashlib.sha256(data).digest(), {"reference": "JD/9"})
    header = seal_header(fk, file_id=fid, version=1, plaintext_length=len(data), metadata=metadata,
                         uploader=uploader.identity)
    row = wrap_file_key(fk, file_id=fid, version=1, recipient=uploader.certified(root), granter=uploader.identity)
    return Sealed(fk, b"".join(chunks), header, row)


async def create_encrypted(caller: Caller, plaintext_length: int, case_id: str | None) -> str:
    """A tus upload declaring encryption; returns its id."""
    meta = ENCRYPTION + (f",case {b64(case_id)}" if case_id else "")
    length = Layout(plaintext_length).ciphertext_length
    created = await caller.request("POST", "/api/v1/uploads", **TUS, **{"Upload-Length": str(length),
                                                                       "Upload-Metadata": meta})
    assert created.status == 201, await created.text()
    return path_of(created.headers["Location"]).rsplit("/", 1)[1]


async def patch(caller: Caller, upload_id: str, offset: int, data: bytes) -> int:
    response = await caller.client.patch(f"/api/v1/uploads/{upload_id}", data=data, headers=caller.headers(
        **TUS, **OCTETS, **{"Upload-Offset": str(offset)}))
    await response.read()
    return response.status


async def encrypted_file(caller: Member, root: OrgRootKey, data: bytes, case_id: str | None) -> tuple[str, Sealed]:
    """The whole client flow: create, send all but the end, envelope, send the end."""
    upload_id = await create_encrypted(caller.caller, len(data), case_id)
    sealed = seal(data, upload_id, caller, root)
    cut = max(0, len(sealed.ciphertext) - 16)
    assert await patch(caller.caller, upload_id, 0, sealed.ciphertext[:cut]) == 204
    await caller.caller.call("PUT", f"/api/v1/uploads/{upload_id}/envelope",
                             {"header": enc(sealed.header), "wrapped_key": enc(sealed.own_row)}, 204)
    assert await patch(caller.caller, upload_id, cut, sealed.ciphertext[cut:]) == 204
    return upload_id, sealed


def wrap_to(sealed: Sealed, file_id: str, recipient: CertifiedKey, granter: Member) -> bytes:
    return wrap_file_key(sealed.file_key, file_id=bytes.fromhex(file_id), version=1, recipient=recipient,
                         granter=granter.identity)


async def certified_by_service(world: World, role: str, org: str) -> Member:
    """A certified key for ``role`` where the world has no admin of ``org``: certified through
    the service as that organisation's admin would, under a root published the same way."""
    caller, org_id = world[role], world.orgs[org]
    directory = world.client.app[keys.KEYS]
    admin = Principal(user_id=caller.user_id or "", org_id=org_id, role="admin", token_id="")
    root = OrgRootKey.generate()
    await directory.set_root(admin, org_id, root.public_key)
    identity = await register(caller)
    certificate = certificate_for(identity, root, org_id, caller.user_id or "")
    await directory.certify(admin, identity.key_id.hex(), certificate)
    return Member(caller, identity, org_id, certificate)


def b64decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


async def everything_stored(app: web.Application) -> bytes:
    """Every value of every row in the database, every stored upload's bytes, and every
    file under a local store's folder: what a thief of the server's disks would get."""
    parts: list[bytes] = []
    async with app[keys.ENGINE].connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in await connection.execute(select(table)):
                parts.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
        ids = [r[0] for r in await connection.execute(select(UploadRecord.id))]
    registry, store = app[keys.REGISTRY], app[keys.STORE]
    for upload_id in ids:
        info = await registry.get(upload_id)
        if info is None or info.offset == 0 or info.state in ("terminated", "expired"):
            continue
        upload = await store.get_upload(info)
        async for block in upload.reader(ByteRange(0, info.offset)):
            parts.append(bytes(block))
    url = app[keys.SETTINGS].effective_storage_url
    if url.startswith("file://"):
        for path in Path(url.removeprefix("file://")).rglob("*"):
            if path.is_file():
                parts.append(path.read_bytes())
    return b"\n".join(parts)


async def audit_events(app: web.Application) -> list[dict[str, object]]:
    """Every audit event as {action, object "type:id", actor user id, details}, in log order."""
    async with app[keys.ENGINE].connect() as connection:
        result = await connection.execute(select(AuditEventRecord.entry).order_by(AuditEventRecord.seq))
        entries = [json.loads(bytes(entry)) for (entry,) in result]
    return [{"action": e["action"], "object": f"{e['object']['type']}:{e['object']['id']}",
             "actor": e["actor"]["user"], "details": e.get("details", {})} for e in entries]
