"""HKDF-SHA256 (RFC 5869) against the RFC's own test vectors (Appendix A, cases 1-3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filehub.crypto import stream as s

CASES = json.loads((Path(__file__).parents[2] / "vectors" / "crypto" / "hkdf_rfc5869.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"case-{c['case']}")
def test_rfc5869_appendix_a(case: dict[str, object]) -> None:
    ikm, salt, info = (bytes.fromhex(str(case[name])) for name in ("ikm", "salt", "info"))
    prk = s.hkdf_extract(salt, ikm)
    assert prk.hex() == case["prk"]
    assert s.hkdf_expand(prk, info, int(case["length"])).hex() == case["okm"]  # type: ignore[call-overload]
    assert s.hkdf_sha256(ikm, salt, info, int(case["length"])).hex() == case["okm"]  # type: ignore[call-overload]


def test_the_transcription_matches_the_rfc_text() -> None:
    # RFC 5869 A.1, as printed: a guard against an edited vector file.
    assert CASES[0]["prk"] == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    assert CASES[0]["okm"].startswith("3cb25f25faacd57a90434f64d0362f2a")
    assert len(bytes.fromhex(CASES[1]["okm"])) == 82


def test_output_length_limits() -> None:
    prk = bytes(32)
    assert s.hkdf_expand(prk, b"", 0) == b""
    assert len(s.hkdf_expand(prk, b"", 255 * 32)) == 8160
    with pytest.raises(ValueError):
        s.hkdf_expand(prk, b"", 255 * 32 + 1)
    # a prefix of a longer output is the shorter output (T(1) || T(2) ...)
    assert s.hkdf_expand(prk, b"x", 70)[:33] == s.hkdf_expand(prk, b"x", 33)
