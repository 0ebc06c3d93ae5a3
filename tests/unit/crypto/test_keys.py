"""Identities, locked private keys, organisation certificate chains and revocations."""

from __future__ import annotations

import pytest

from filehub.crypto import MalformedData, TamperedData, UntrustedKey, WrongPassphrase
from filehub.crypto import keys as k
from tests.unit.crypto.conftest import NOW, YEAR, Org, secret

OPS, MEM = 1, 8192  # the Argon2id minimum, for speed: tests only; the default is moderate


# --- identities at rest --------------------------------------------------------------------


def test_an_identity_locks_and_unlocks_under_its_passphrase() -> None:
    me = k.Identity.generate()
    blob = me.lock("Grüße, officer 7", opslimit=OPS, memlimit=MEM)
    assert len(blob) == 13 + 16 + 8 + 8 + 16 + 24 + 64 + 16  # 165 bytes
    assert blob[13:29] == me.key_id  # readable without the passphrase
    # NFC and NFD spell the same passphrase: the same key on every operating system
    assert k.Identity.unlock(blob, "Gru\u0308ße, officer 7").key_id == me.key_id
    with pytest.raises(WrongPassphrase):
        k.Identity.unlock(blob, "wrong")
    assert me.signing_seed.hex() not in repr(me)


def test_a_locked_key_records_its_argon2id_parameters() -> None:
    root = k.OrgRootKey.generate()
    blob = root.lock("root passphrase", opslimit=2, memlimit=16384)
    assert int.from_bytes(blob[29:37], "big") == 2 and int.from_bytes(blob[37:45], "big") == 16384
    assert k.OrgRootKey.unlock(blob, "root passphrase").public_key == root.public_key
    with pytest.raises(MalformedData):
        k.Identity.unlock(blob, "root passphrase")  # another object type


def test_the_default_parameters_are_moderate() -> None:
    assert (k.ARGON2ID_OPSLIMIT, k.ARGON2ID_MEMLIMIT) == (3, 256 * 2**20)


@pytest.mark.parametrize("offset", [13, 29, 40, 45, 61, 90, 164])
def test_a_tampered_locked_key_does_not_open(offset: int) -> None:
    me = k.Identity(secret("me signing"), secret("me encryption"))
    blob = bytearray(me.lock("pass", opslimit=OPS, memlimit=MEM))
    blob[offset] ^= 0x01
    with pytest.raises((WrongPassphrase, MalformedData)):
        k.Identity.unlock(bytes(blob), "pass")


def test_a_locked_key_cannot_demand_unbounded_work() -> None:
    blob = bytearray(k.Identity.generate().lock("pass", opslimit=OPS, memlimit=MEM))
    blob[37:45] = (2**40).to_bytes(8, "big")  # memlimit: 1 TiB
    with pytest.raises(MalformedData, match="Argon2id"):
        k.Identity.unlock(bytes(blob), "pass")
    with pytest.raises(ValueError):
        k.Identity.generate().lock("", opslimit=OPS, memlimit=MEM)


# --- certificate chains --------------------------------------------------------------------


def test_a_member_certified_by_the_root_verifies(police: Org) -> None:
    cert = police.certify("officer-1")
    certified = k.verify_chain(cert, police.root.public_key, now=NOW, org_id="police.example")
    assert (certified.org_id, certified.user_id) == ("police.example", "officer-1")
    assert certified.identity == police.identity("officer-1").public
    assert certified.key_id == police.identity("officer-1").key_id


def test_a_member_certified_by_an_administrator_verifies(defence: Org) -> None:
    admin = defence.identity("admin")
    admin_cert = defence.certify("admin", may_certify=True)
    cert = defence.certify("solicitor", issuer=admin)
    certified = k.verify_chain(
        cert, defence.root.public_key, org_id=defence.org_id, now=NOW, intermediates=[admin_cert]
    )
    assert certified.user_id == "solicitor"
    with pytest.raises(UntrustedKey, match="does not chain"):
        k.verify_chain(
            cert, defence.root.public_key, org_id=defence.org_id, now=NOW
        )  # the admin's certificate is needed


def test_an_uncertified_key_is_refused(police: Org) -> None:
    stranger = k.Identity.generate()
    self_signed = k.certify(
        stranger.public,
        org_id=police.org_id,
        user_id="officer-9",
        not_before=NOW - 10,
        not_after=NOW + 10,
        issuer=stranger,
    )
    with pytest.raises(UntrustedKey, match="does not chain"):
        k.verify_chain(self_signed, police.root.public_key, org_id=police.org_id, now=NOW, intermediates=[self_signed])


def test_a_certificate_signed_by_another_org_is_refused(police: Org, defence: Org) -> None:
    cert = defence.certify("solicitor")
    with pytest.raises(UntrustedKey):
        k.verify_chain(cert, police.root.public_key, org_id=police.org_id, now=NOW)
    with pytest.raises(UntrustedKey, match="not 'police.example'"):
        k.verify_chain(cert, defence.root.public_key, now=NOW, org_id="police.example")


def test_an_administrator_of_another_org_cannot_certify_ours(police: Org, defence: Org) -> None:
    # the police root certified a police admin; that admin signs a "defence" member
    admin = police.identity("admin")
    admin_cert = police.certify("admin", may_certify=True)
    forged = k.certify(
        defence.identity("mole").public,
        org_id="defence.example",
        user_id="mole",
        not_before=NOW - 10,
        not_after=NOW + 10,
        issuer=admin,
    )
    with pytest.raises(UntrustedKey, match="may not certify"):
        k.verify_chain(forged, police.root.public_key, org_id=police.org_id, now=NOW, intermediates=[admin_cert])


def test_an_administrator_needs_the_may_certify_flag(police: Org) -> None:
    plain = police.identity("sergeant")
    plain_cert = police.certify("sergeant")
    cert = police.certify("officer-2", issuer=plain)
    with pytest.raises(UntrustedKey, match="may not certify"):
        k.verify_chain(cert, police.root.public_key, org_id=police.org_id, now=NOW, intermediates=[plain_cert])


def test_expired_and_not_yet_valid_certificates_are_refused(police: Org) -> None:
    expired = police.certify("retired", not_before=NOW - 2 * YEAR, not_after=NOW - YEAR)
    with pytest.raises(UntrustedKey, match="expired"):
        k.verify_chain(expired, police.root.public_key, org_id=police.org_id, now=NOW)
    future = police.certify("recruit", not_before=NOW + 1, not_after=NOW + YEAR)
    with pytest.raises(UntrustedKey, match="not yet valid"):
        k.verify_chain(future, police.root.public_key, org_id=police.org_id, now=NOW)
    assert k.verify_chain(future, police.root.public_key, org_id=police.org_id, now=NOW + 1).user_id == "recruit"
    with pytest.raises(UntrustedKey, match="expired"):  # not_after is exclusive
        k.verify_chain(future, police.root.public_key, org_id=police.org_id, now=NOW + YEAR)


def test_an_expired_administrator_certifies_nothing(defence: Org) -> None:
    admin = defence.identity("admin")
    old = defence.certify("admin", may_certify=True, not_before=NOW - 2 * YEAR, not_after=NOW - YEAR)
    cert = defence.certify("solicitor", issuer=admin)
    with pytest.raises(UntrustedKey, match="expired"):
        k.verify_chain(cert, defence.root.public_key, org_id=defence.org_id, now=NOW, intermediates=[old])
    renewed = defence.certify("admin", may_certify=True)
    assert (
        k.verify_chain(
            cert, defence.root.public_key, org_id=defence.org_id, now=NOW, intermediates=[old, renewed]
        ).user_id
        == "solicitor"
    )


@pytest.mark.parametrize("offset", [13, 14, 30, 46, 78, 111, -1])
def test_an_edited_certificate_is_refused(police: Org, offset: int) -> None:
    cert = bytearray(police.certify("officer-1"))
    cert[offset] ^= 0x01
    with pytest.raises((TamperedData, MalformedData, UntrustedKey)):
        k.verify_chain(bytes(cert), police.root.public_key, org_id=police.org_id, now=NOW)


def test_malformed_certificates_are_refused(police: Org) -> None:
    cert = police.certify("officer-1")
    for data in (cert[:-1], cert + b"\x00", b"not a certificate", cert[:12] + b"\x02" + cert[13:]):
        with pytest.raises(MalformedData):
            k.verify_chain(data, police.root.public_key, org_id=police.org_id, now=NOW)


# --- revocation ----------------------------------------------------------------------------


def test_revocation_by_the_root_the_issuer_or_the_key_itself(defence: Org) -> None:
    admin = defence.identity("admin")
    admin_cert = defence.certify("admin", may_certify=True)
    solicitor = defence.identity("solicitor")
    cert = defence.certify("solicitor", issuer=admin)
    chain = {
        "org_root_key": defence.root.public_key,
        "org_id": defence.org_id,
        "now": NOW,
        "intermediates": [admin_cert],
    }
    for signer in (defence.root, admin, solicitor):
        revocation = k.revoke(solicitor.key_id, effective_from=NOW - 5, signer=signer, reason=k.REASON_KEY_COMPROMISE)
        assert len(revocation) == 118
        with pytest.raises(UntrustedKey, match="revoked"):
            k.verify_chain(cert, revocations=[revocation], **chain)  # type: ignore[arg-type]


def test_revocations_by_strangers_or_not_yet_in_force_do_not_count(defence: Org) -> None:
    member = defence.member("solicitor")
    stranger = k.Identity.generate()
    by_stranger = k.revoke(member.identity.key_id, effective_from=NOW - 5, signer=stranger)
    in_future = k.revoke(member.identity.key_id, effective_from=NOW + 60, signer=defence.root)
    revocations = [by_stranger, in_future]
    assert k.verify_chain(
        member.certificate, defence.root.public_key, org_id=defence.org_id, now=NOW, revocations=revocations
    )
    with pytest.raises(UntrustedKey, match="revoked"):
        k.verify_chain(
            member.certificate, defence.root.public_key, org_id=defence.org_id, now=NOW + 60, revocations=revocations
        )


def test_a_revoked_administrator_invalidates_what_it_certified(defence: Org) -> None:
    admin = defence.identity("admin")
    admin_cert = defence.certify("admin", may_certify=True)
    cert = defence.certify("solicitor", issuer=admin)
    revocation = k.revoke(admin.key_id, effective_from=NOW - 1, signer=defence.root)
    with pytest.raises(UntrustedKey, match="'admin'.*revoked"):
        k.verify_chain(
            cert,
            defence.root.public_key,
            org_id=defence.org_id,
            now=NOW,
            intermediates=[admin_cert],
            revocations=[revocation],
        )


def test_a_forged_revocation_by_a_trusted_key_is_reported(defence: Org) -> None:
    member = defence.member("solicitor")
    revocation = bytearray(k.revoke(member.identity.key_id, effective_from=NOW - 5, signer=defence.root))
    revocation[-1] ^= 0x01
    with pytest.raises(TamperedData, match="revocation"):
        k.verify_chain(
            member.certificate, defence.root.public_key, org_id=defence.org_id, now=NOW, revocations=[bytes(revocation)]
        )


def test_key_ids_name_both_public_keys() -> None:
    a = k.Identity(secret("a signing"), secret("a encryption"))
    b = k.Identity(secret("a signing"), secret("b encryption"))
    assert a.key_id != b.key_id and len(a.key_id) == k.KEY_ID_SIZE
