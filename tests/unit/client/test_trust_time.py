"""A signer's certificate is checked at the time the server stored what it signed, so a
certificate that has expired since still vouches for old files, and a revocation that took
effect before then still refuses them (docs/e2e.md, format.md §8)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from filehub.client import ClientError
from filehub.client.config import ClientConfig
from filehub.client.download import stored_at
from filehub.client.identity import TrustStore
from filehub.crypto.keys import Identity, OrgRootKey, certify, revoke

ORG, USER = "a" * 32, "b" * 32
T0 = 1_700_000_000  # the certificate is valid over [T0, T0 + 100)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def server_key(identity: Identity, root: OrgRootKey, revocations: list[bytes] = []) -> dict[str, Any]:  # noqa: B006
    certificate = certify(identity.public, org_id=ORG, user_id=USER, not_before=T0, not_after=T0 + 100, issuer=root)
    return {"key_id": identity.key_id.hex(), "user_id": USER, "org_id": ORG, "certificate": b64(certificate),
            "intermediates": [], "revocations": [b64(r) for r in revocations]}


@pytest.fixture
def trust(tmp_path: Path) -> tuple[TrustStore, OrgRootKey]:
    root = OrgRootKey.generate()
    store = TrustStore(ClientConfig(tmp_path), {})
    store.add(ORG, b64(root.public_key))
    return store, root


def test_an_expired_certificate_vouches_for_what_was_stored_while_it_was_valid(trust: tuple[TrustStore, OrgRootKey]) -> None:
    store, root = trust
    key = server_key(Identity.generate(), root)
    assert store.verify_key(key, now=stored_at({"created_at": iso(T0 + 50)})).user_id == USER
    with pytest.raises(ClientError, match="expired"):
        store.verify_key(key, now=stored_at({"created_at": iso(T0 + 150)}))
    with pytest.raises(ClientError, match="expired"):
        store.verify_key(key)  # today, without a stored time


def test_a_revocation_in_force_when_it_was_stored_refuses_it(trust: tuple[TrustStore, OrgRootKey]) -> None:
    store, root = trust
    identity = Identity.generate()
    key = server_key(identity, root, [revoke(identity.key_id, effective_from=T0 + 40, signer=root)])
    assert store.verify_key(key, now=stored_at({"created_at": iso(T0 + 39)})).user_id == USER
    with pytest.raises(ClientError, match="revoked"):
        store.verify_key(key, now=stored_at({"created_at": iso(T0 + 41)}))


def test_a_stored_time_in_the_future_counts_as_now() -> None:
    assert stored_at({"created_at": iso(4_000_000_000)}) <= int(datetime.now(UTC).timestamp())  # type: ignore[operator]
    assert stored_at({}) is None
