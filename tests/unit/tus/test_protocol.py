"""tus header parsing (pure)."""

from __future__ import annotations

import base64
import hashlib
import zlib
from datetime import UTC, datetime

import pytest

from filehub.errors import BadRequest, UnsupportedChecksumAlgorithm
from filehub.tus import protocol as tus


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("0", 0), (" 42 ", 42), ("9223372036854775807", 9223372036854775807)])
def test_non_negative_integers(value: str | None, expected: int | None) -> None:
    assert tus.parse_non_negative("Upload-Offset", value) == expected


@pytest.mark.parametrize("value", ["", "-1", "+1", "1.0", "0x10", "1e3", "١٢", "12345678901234567890"])
def test_non_negative_integers_refuse_anything_else(value: str) -> None:
    with pytest.raises(BadRequest):
        tus.parse_non_negative("Upload-Offset", value)


def test_metadata_round_trip_keeps_values_encoded() -> None:
    header = "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential,case Q0FTRS0x"
    parsed = tus.parse_metadata(header, 1024)
    assert parsed == {"filename": "d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==", "is_confidential": None, "case": "Q0FTRS0x"}
    assert tus.format_metadata(parsed) == header
    assert tus.metadata_text(parsed, "filename") == "world_domination_plan.pdf"
    assert tus.metadata_text(parsed, "is_confidential") is None
    assert tus.metadata_text(parsed, "missing") is None


def test_metadata_value_that_is_not_text_is_kept_but_not_decoded() -> None:
    raw = base64.b64encode(b"\xff\xfe").decode()
    parsed = tus.parse_metadata(f"blob {raw}", 1024)
    assert parsed["blob"] == raw
    assert tus.metadata_text(parsed, "blob") is None


@pytest.mark.parametrize(
    "header",
    ["filename not-base64!", "a b c", "key with,", "dup YQ==,dup Yg==", "sp ace YQ==", " , ", "k\u00e9y YQ=="],
)
def test_metadata_refuses_malformed_headers(header: str) -> None:
    with pytest.raises(BadRequest):
        tus.parse_metadata(header, 1024)


def test_metadata_is_bounded() -> None:
    with pytest.raises(BadRequest):
        tus.parse_metadata("k " + "QUFB" * 300, 1024)
    assert tus.parse_metadata("", 1024) == {}
    assert tus.parse_metadata(None, 1024) == {}


@pytest.mark.parametrize("algorithm", tus.CHECKSUM_ALGORITHMS)
def test_checksums_parse_and_match_hashlib(algorithm: str) -> None:
    data = b"The quick brown fox"
    hasher = tus.new_hasher(algorithm)
    hasher.update(data[:5])
    hasher.update(data[5:])
    expected = zlib.crc32(data).to_bytes(4, "big") if algorithm == "crc32" else hashlib.new(algorithm, data).digest()
    assert hasher.digest() == expected
    parsed = tus.parse_checksum(f"{algorithm} {base64.b64encode(expected).decode()}")
    assert parsed == tus.Checksum(algorithm, expected)


def test_crc32_copy_is_independent() -> None:
    first = tus.Crc32()
    first.update(b"abc")
    second = first.copy()
    second.update(b"def")
    assert first.digest() == zlib.crc32(b"abc").to_bytes(4, "big")
    assert second.digest() == zlib.crc32(b"abcdef").to_bytes(4, "big")


@pytest.mark.parametrize(
    ("header", "error"),
    [("sha1", BadRequest), ("sha1 !!!", BadRequest), ("sha1 AAAA", BadRequest), ("blake3 AAAA", UnsupportedChecksumAlgorithm)],
)
def test_checksum_errors(header: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        tus.parse_checksum(header)


def test_concat_headers() -> None:
    assert tus.parse_concat(None) is None
    assert tus.parse_concat("partial") == tus.Concat("partial")
    final = tus.parse_concat("final;/api/v1/uploads/a https://h/api/v1/uploads/b")
    assert final == tus.Concat("final", ("/api/v1/uploads/a", "https://h/api/v1/uploads/b"))
    assert tus.format_concat("final", ["/x", "/y"]) == "final;/x /y"
    for bad in ("final;", "final", "partial;x", "whole"):
        with pytest.raises(BadRequest):
            tus.parse_concat(bad)
    with pytest.raises(BadRequest):
        tus.parse_concat("final;" + " ".join(["/u"] * (tus.MAX_PARTIALS + 1)))


def test_defer_length_accepts_only_one() -> None:
    assert tus.parse_defer_length("1") is True
    assert tus.parse_defer_length(None) is False
    with pytest.raises(BadRequest):
        tus.parse_defer_length("0")


def test_expires_uses_imf_fixdate() -> None:
    assert tus.format_expires(datetime(2026, 11, 29, 5, 6, 7, tzinfo=UTC)) == "Sun, 29 Nov 2026 05:06:07 GMT"


def test_extensions_follow_store_capabilities() -> None:
    everything = tus.extension_names(termination=True, concatenation=True, defer_length=True, expiration=True)
    assert "concatenation-unfinished" in everything and "termination" in everything
    minimal = tus.extension_names(termination=False, concatenation=False, defer_length=False, expiration=False)
    assert minimal == ["creation", "creation-with-upload", "checksum"]
