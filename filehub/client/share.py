"""Sharing: grants through the access-control API, keys through signed rows (docs/e2e.md).

A grant decides who is *served* a file; a row decides who *can read* it. ``share`` does
both: it creates the grant, then for every file unwraps the caller's own row (the header's
key commitment proves the key), verifies each recipient key's chain against the pinned root
of the recipient's organisation, and posts one row per key. Members who get a certified key
later, or join later, file key requests that ``sync`` fulfils the same way. The payload is
never rewritten.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from filehub.client import ClientError
from filehub.client.api import Api
from filehub.client.config import b64e
from filehub.client.download import unlock_file
from filehub.client.identity import TrustStore
from filehub.crypto.header import wrap_file_key
from filehub.crypto.keys import CertifiedKey, Identity

ROWS_PER_REQUEST = 1000  # the server's bound on one POST of rows
PARALLEL_FILES = 8
SUBJECT_TYPES = {"user": "user", "org": "organisation", "organisation": "organisation", "group": "group"}


@dataclass
class ShareReport:
    grant_id: str | None = None
    files: int = 0
    recipients: int = 0
    added: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def parse_subject(text: str) -> tuple[str, str]:
    kind, _, ident = text.partition(":")
    if kind not in SUBJECT_TYPES or not ident:
        raise ClientError("name the recipient as user:ID or org:ID")
    return SUBJECT_TYPES[kind], ident


async def recipient_keys(api: Api, trust: TrustStore, subject_type: str, subject_id: str,
                         problems: list[str]) -> list[CertifiedKey]:
    """The subject's keys that verify against the pinned root of their organisation."""
    if subject_type == "group":
        raise ClientError("keys are shared with users and organisations; share with the group's members instead")
    query = {"user": subject_id} if subject_type == "user" else {"org": subject_id}
    found = []
    async for key in api.pages("/api/v1/keys", **query):
        if key.get("revoked_at"):
            continue
        if subject_type == "organisation" and key["org_id"] != subject_id:
            continue
        try:
            found.append(trust.verify_key(key))
        except ClientError as exc:
            problems.append(str(exc))
    return found


async def post_rows(api: Api, file_id: str, rows: list[bytes], report: ShareReport) -> None:
    for start in range(0, len(rows), ROWS_PER_REQUEST):
        batch = [b64e(row) for row in rows[start : start + ROWS_PER_REQUEST]]
        reply = await api.call("POST", f"/api/v1/files/{file_id}/keys", {"wrapped_keys": batch})
        report.added += int(reply.get("added", 0))
        report.skipped += int(reply.get("skipped", 0))


async def wrap_for(api: Api, identity: Identity, trust: TrustStore, file_id: str,
                   recipients: list[CertifiedKey], report: ShareReport) -> None:
    opened, file_key = await unlock_file(api, identity, trust, file_id)
    version, fid = opened.header.version, bytes.fromhex(file_id)

    def wrap_all() -> list[bytes]:  # ~70 µs a row: off the event loop
        return [wrap_file_key(file_key, file_id=fid, version=version, recipient=r, granter=identity)
                for r in recipients]

    await post_rows(api, file_id, await asyncio.to_thread(wrap_all), report)
    report.files += 1


async def for_each_file(file_ids: list[str], action: Any, report: ShareReport) -> None:
    gate = asyncio.Semaphore(PARALLEL_FILES)

    async def one(file_id: str) -> None:
        async with gate:
            try:
                await action(file_id)
            except ClientError as exc:
                report.problems.append(f"file {file_id}: {exc}")

    await asyncio.gather(*(one(f) for f in file_ids))


async def encrypted_files_of_bundle(api: Api, bundle_id: str) -> list[str]:
    return [f["id"] async for f in api.pages(f"/api/v1/bundles/{bundle_id}/files") if f.get("encrypted", True)]


async def share(api: Api, identity: Identity, trust: TrustStore, *, subject: str, relation: str,
                file_id: str | None = None, bundle_id: str | None = None) -> ShareReport:
    subject_type, subject_id = parse_subject(subject)
    report = ShareReport()
    if bundle_id is not None:
        body = {"relation": relation, "subject": {"type": subject_type, "id": subject_id}}
        report.grant_id = (await api.call("POST", f"/api/v1/bundles/{bundle_id}/grants", body))["id"]
        file_ids = await encrypted_files_of_bundle(api, bundle_id)
    else:
        file_ids = [file_id or ""]
    recipients = await recipient_keys(api, trust, subject_type, subject_id, report.problems)
    report.recipients = len(recipients)
    if recipients:
        await for_each_file(file_ids, lambda f: wrap_for(api, identity, trust, f, recipients, report), report)
    return report


async def sync(api: Api, identity: Identity, trust: TrustStore) -> ShareReport:
    """Fulfil every key request the caller can: one verified row per requester key."""
    report = ShareReport()
    wanted: dict[str, list[CertifiedKey]] = defaultdict(list)
    async for request in api.pages("/api/v1/key-requests"):
        try:
            wanted[request["file_id"]].append(trust.verify_key(request["requester"]))
        except ClientError as exc:
            report.problems.append(f"request {request['id']}: {exc}")
    report.recipients = sum(len(keys) for keys in wanted.values())
    await for_each_file(list(wanted), lambda f: wrap_for(api, identity, trust, f, wanted[f], report), report)
    return report


async def revoke(api: Api, *, kind: str, object_id: str, grant_id: str | None = None,
                 subject: str | None = None) -> list[str]:
    """Delete one grant, or every grant of a subject, on a bundle or a case."""
    base = f"/api/v1/{kind}/{object_id}/grants"
    if grant_id is not None:
        ids = [grant_id]
    else:
        subject_type, subject_id = parse_subject(subject or "")
        ids = [g["id"] async for g in api.pages(base)
               if g["subject_type"] == subject_type and g["subject_id"] == subject_id]
        if not ids:
            raise ClientError(f"no grant to {subject} on this {kind[:-1]}")
    for one in ids:
        await api.call("DELETE", f"{base}/{one}", expect=(204,))
    return ids
