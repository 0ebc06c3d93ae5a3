"""C2SP signed notes against the published Go vectors (golang.org/x/mod/sumdb/note) and a
real sum.golang.org checkpoint. Sources are listed in tests/vectors/signed_note_go.json."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from filehub.audit import checkpoint as cp
from filehub.audit.merkle import EMPTY_ROOT

GO = json.loads((Path(__file__).parents[2] / "vectors" / "signed_note_go.json").read_text())
PETER = cp.VerifierKey.parse(GO["peter_verifier_key"])
ENOCH = cp.VerifierKey.parse(GO["enoch_verifier_key"])
TEXT = GO["text"]
PETER_SIG = GO["peter_signature_line"]
ENOCH_SIG = GO["enoch_signature_line"]


def test_verifier_keys_round_trip() -> None:
    assert PETER.name == "PeterNeumann" and PETER.key_id == 0xC74F20A3 and PETER.alg == cp.ALG_ED25519
    assert str(PETER) == GO["peter_verifier_key"] and str(ENOCH) == GO["enoch_verifier_key"]


def test_every_mangled_verifier_key_is_refused() -> None:
    """Go's TestNewVerifier: every proper substring and every one-character change."""
    vkey = GO["peter_verifier_key"]
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                with pytest.raises(cp.InvalidKey):
                    cp.VerifierKey.parse(vkey[i:j])
    for i in range(len(vkey)):
        with pytest.raises(cp.InvalidKey):
            cp.VerifierKey.parse(vkey[:i] + chr(ord(vkey[i]) + 1) + vkey[i + 1 :])
    for bad in GO["bad_verifier_keys"]:  # wrong key length; unknown algorithm
        with pytest.raises(cp.InvalidKey):
            cp.VerifierKey.parse(bad)
    for bad in ["PeterNeumann+0xc74f20a3+" + vkey.split("+", 2)[2], "PeterNeumann+c74f_20a3+x", " " + vkey]:
        with pytest.raises(cp.InvalidKey):
            cp.VerifierKey.parse(bad)


def test_every_mangled_signer_key_is_refused() -> None:
    skey = GO["peter_signer_key"]
    signer = cp.SignerKey.parse(skey)
    assert signer.verifier_key == PETER
    assert signer.to_private_string() == skey
    assert "AYEKFALV" not in repr(signer)  # the seed never shows in a repr
    for i in range(len(skey) + 1):
        for j in range(i + 1, len(skey) + 1):
            if (i, j) != (0, len(skey)):
                with pytest.raises(cp.InvalidKey):
                    cp.SignerKey.parse(skey[i:j])
    for i in range(len(skey)):
        with pytest.raises(cp.InvalidKey):
            cp.SignerKey.parse(skey[:i] + chr(ord(skey[i]) + 1) + skey[i + 1 :])


def test_signing_reproduces_the_go_note_byte_for_byte() -> None:
    """Ed25519 is deterministic (RFC 8032), so the published note is the only right answer."""
    signer = cp.SignerKey.parse(GO["peter_signer_key"])
    assert cp.sign_note(TEXT, signer).decode() == GO["signed_by_peter"]
    replaced = cp.add_signatures((TEXT + "\n" + PETER_SIG).encode(), signer.sign(TEXT.encode()))
    assert replaced.decode() == GO["signed_by_peter"]  # a new signature replaces the old one
    with pytest.raises(cp.MalformedNote):
        cp.sign_note("abc", signer)  # the text must end in a newline


def test_open_verifies_known_keys_and_ignores_unknown_ones() -> None:
    both = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    opened = cp.open_note(both, [PETER])
    assert opened.text == TEXT and opened.signed_by(PETER) and not opened.signed_by(ENOCH)
    assert [s.name for s in opened.unverified] == ["EnochRoot"]
    opened = cp.open_note(both, [PETER, ENOCH])
    assert [v.key for v in opened.verified] == [PETER, ENOCH] and opened.unverified == ()
    with pytest.raises(cp.NotSigned):
        cp.open_note(both, [])
    # A known key's repeated signature counts once; repeated unknown lines are kept once.
    repeated = (TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG).encode()
    opened = cp.open_note(repeated, [PETER])
    assert len(opened.verified) == 1 and len(opened.unverified) == 1


def test_a_known_keys_bad_signature_rejects_the_note() -> None:
    broken = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(cp.BadSignature, match="PeterNeumann"):
        cp.open_note((TEXT + "\n" + broken).encode(), [PETER])
    with pytest.raises(cp.BadSignature):  # an edited body
        cp.open_note((TEXT.replace("cryptography", "cryptographY") + "\n" + PETER_SIG).encode(), [PETER])


class CollidingKey(cp.VerifierKey):
    """Another key whose 32-bit ID equals Enoch's (2**32 work for an attacker; faked here)."""

    @property
    def key_id(self) -> int:
        return ENOCH.key_id


def test_ambiguous_known_keys_are_refused() -> None:
    collider = CollidingKey("EnochRoot", bytes(range(32)))
    with pytest.raises(cp.InvalidKey, match="ambiguous"):
        cp.open_note((TEXT + "\n" + ENOCH_SIG).encode(), [ENOCH, PETER, collider])
    cp.open_note((TEXT + "\n" + PETER_SIG).encode(), [ENOCH, PETER, collider])  # not used: fine
    cp.open_note((TEXT + "\n" + ENOCH_SIG).encode(), [ENOCH, PETER, ENOCH])  # the same key twice is one key


@pytest.mark.parametrize("note", GO["malformed_notes"])
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(cp.MalformedNote):
        cp.open_note(note.encode(), [PETER])


def test_more_malformed_notes() -> None:
    for data in [
        b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
        (TEXT + "\n" + PETER_SIG * 101).encode(),
        (TEXT + "\n" + PETER_SIG.replace(" x08go", "\u2028x08go")).encode(),
        (TEXT + "\n" + PETER_SIG[:-1] + "\r\n").encode(),
        (TEXT + "\n" + "- PeterNeumann " + PETER_SIG.split(" ")[2]).encode(),  # hyphen, not em dash
        (TEXT + "\n" + "\u2014 PeterNeumann AAAA\n").encode(),  # too short to hold a key ID and signature
        b"x" * (cp.MAX_NOTE_SIZE + 1),
    ]:
        with pytest.raises(cp.MalformedNote):
            cp.open_note(data, [PETER])
    cp.open_note((TEXT + "\n" + PETER_SIG * 100).encode(), [PETER])  # 100 is allowed


def test_a_real_sum_golang_org_checkpoint() -> None:
    log_key = cp.VerifierKey.parse(GO["sumdb_verifier_key"])
    note = GO["sumdb_checkpoint"].encode()
    verified = cp.open_checkpoint(note, log_key, origin=GO["sumdb_origin"])
    assert verified.checkpoint.size == GO["sumdb_size"]
    assert verified.checkpoint.root_hash == base64.b64decode(GO["sumdb_root_b64"])
    with pytest.raises(cp.MalformedCheckpoint):  # its origin is not its key name
        cp.open_checkpoint(note, log_key)
    with pytest.raises(cp.BadSignature):
        cp.open_checkpoint(note.replace(b"31700353", b"31700354"), log_key, origin=GO["sumdb_origin"])


def test_a_published_cosignature_v1_key_parses() -> None:
    key = cp.VerifierKey.parse(GO["cosignature_v1_verifier_key"])
    assert key.alg == cp.ALG_COSIGNATURE_V1 and str(key) == GO["cosignature_v1_verifier_key"]
    assert key.check(b"x\n", bytes(72)) is None
    assert cp.Checkpoint("o", 0, EMPTY_ROOT).text().endswith("\n")
