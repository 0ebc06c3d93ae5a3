"""Key management over the API: register the user's public keys, certify members (org
admins), publish an organisation root, and say whether a key is trusted (docs/e2e.md)."""

from __future__ import annotations

import re
import time
from typing import Any

from filehub.client import ClientError
from filehub.client.api import Api, ApiError
from filehub.client.config import b64d, b64e
from filehub.client.identity import TrustStore, public_key_json
from filehub.crypto.keys import CertifiedKey, Identity, OrgRootKey, PublicIdentity, certify

KEY_ID = re.compile(r"[0-9a-f]{32}")
CLOCK_SKEW = 300  # seconds a new certificate is back-dated, for clients whose clock runs late


async def register(api: Api, identity: Identity) -> dict[str, Any]:
    return await api.call("POST", "/api/v1/keys", public_key_json(identity), expect=(200, 201))


async def my_certified_key(api: Api, trust: TrustStore, identity: Identity) -> CertifiedKey:
    """The caller's own key as the server holds it, verified like anyone else's."""
    try:
        key = await api.get(f"/api/v1/keys/{identity.key_id.hex()}")
    except ApiError as exc:
        if exc.status == 404:
            raise ClientError("your key is not registered on this server: run `filehub keys init`") from None
        raise
    return trust.verify_key(key)


def status(trust: TrustStore, key: dict[str, Any]) -> str:
    if key.get("revoked_at"):
        return f"revoked at {key['revoked_at']}"
    if not key.get("certificate"):
        return "not certified yet: ask an administrator of your organisation to run `filehub keys certify`"
    try:
        certified = trust.verify_key(key)
    except ClientError as exc:
        return f"certified on the server, but not trusted here: {exc}"
    until = time.strftime("%Y-%m-%d", time.gmtime(certified.not_after))
    return f"certified and verified against the pinned root of {certified.org_id} (valid until {until})"


async def keys_to_certify(api: Api, target: str) -> list[dict[str, Any]]:
    """A key id names one key; a user id names that user's keys that still need a certificate."""
    if KEY_ID.fullmatch(target):  # user ids are 32 hex digits too: a key id if one matches
        try:
            return [await api.get(f"/api/v1/keys/{target}")]
        except ApiError as exc:
            if exc.status != 404:
                raise
    found = [k async for k in api.pages("/api/v1/keys", user=target)]
    pending = [k for k in found if not k.get("certificate") and not k.get("revoked_at")]
    if not pending:
        raise ClientError(f"user {target} has no registered key waiting for a certificate")
    return pending


async def certify_key(api: Api, key: dict[str, Any], issuer: Identity | OrgRootKey, *, days: int,
                      may_certify: bool = False) -> dict[str, Any]:
    now = int(time.time())
    subject = PublicIdentity(b64d(key["signing_key"], "signing key"), b64d(key["encryption_key"], "encryption key"))
    if subject.key_id.hex() != key["key_id"]:
        raise ClientError(f"the server's key {key['key_id']} does not match its public keys")
    certificate = certify(subject, org_id=key["org_id"], user_id=key["user_id"], not_before=now - CLOCK_SKEW,
                          not_after=now + days * 86400, issuer=issuer, may_certify=may_certify)
    return await api.call("PUT", f"/api/v1/keys/{key['key_id']}/certificate", {"certificate": b64e(certificate)})


async def publish_root(api: Api, org_id: str, root: OrgRootKey) -> dict[str, Any]:
    return await api.call("PUT", f"/api/v1/organisations/{org_id}/root-key", {"public_key": b64e(root.public_key)},
                          expect=(200, 201))
