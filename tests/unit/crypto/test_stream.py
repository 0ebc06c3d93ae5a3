"""The payload stream: round trips around chunk boundaries, closed-form ranges, tampering."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from filehub.crypto import CryptoError, MalformedData, TamperedData, TrailingData, TruncatedData
from filehub.crypto import stream as s
from tests.unit.crypto.conftest import BOUNDARY_LENGTHS, CT, FILE_ID, FILE_KEY, C, encrypt, pattern

# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", BOUNDARY_LENGTHS)
@pytest.mark.parametrize("piece", [None, 1000, 7919, C, C + 1])
def test_round_trip_around_chunk_boundaries(cipher: s.PayloadCipher, length: int, piece: int | None) -> None:
    plaintext = pattern(length)
    chunks = encrypt(cipher, plaintext, piece)
    layout = s.Layout(length)
    assert len(chunks) == layout.chunk_count
    assert [len(c) for c in chunks] == [layout.chunk_span(i)[1] - layout.chunk_span(i)[0] for i in range(len(chunks))]
    ciphertext = b"".join(chunks)
    assert len(ciphertext) == layout.ciphertext_length == length + 16 * layout.chunk_count
    assert s.Layout.from_ciphertext_length(len(ciphertext)) == layout
    decryptor = s.Decryptor(cipher, length)
    step = piece or max(1, len(ciphertext))
    out = b"".join(decryptor.update(ciphertext[i : i + step]) for i in range(0, len(ciphertext), step))
    decryptor.finish()
    assert out == plaintext


def test_an_empty_file_is_one_empty_last_chunk(cipher: s.PayloadCipher) -> None:
    (chunk,) = encrypt(cipher, b"")
    assert len(chunk) == s.TAG_SIZE
    assert cipher.open_chunk(0, chunk, last=True) == b""
    with pytest.raises(TamperedData):
        cipher.open_chunk(0, chunk, last=False)  # the flag is authenticated


def test_a_full_chunk_is_held_back_until_more_data_or_the_end(cipher: s.PayloadCipher) -> None:
    encryptor = s.Encryptor(cipher)
    assert encryptor.update(pattern(C)) == []  # it might be the last chunk
    assert len(encryptor.update(b"x")) == 1
    assert len(encryptor.finish()) == 1 + s.TAG_SIZE


def test_the_encryptor_digests_the_plaintext(cipher: s.PayloadCipher) -> None:
    import hashlib

    encryptor = s.Encryptor(cipher)
    encryptor.update(pattern(3 * C + 5))
    with pytest.raises(ValueError):
        _ = encryptor.plaintext_sha256  # not before the end
    encryptor.finish()
    assert encryptor.plaintext_sha256 == hashlib.sha256(pattern(3 * C + 5)).digest()
    assert encryptor.plaintext_length == 3 * C + 5
    with pytest.raises(ValueError):
        encryptor.update(b"more")


@pytest.mark.parametrize("length", [2 * C + 1, 5 * C])
def test_chunks_encrypted_independently_on_threads_equal_the_stream(cipher: s.PayloadCipher, length: int) -> None:
    plaintext, layout = pattern(length), s.Layout(length)

    def seal(i: int) -> bytes:
        return cipher.seal_chunk(i, plaintext[i * C : (i + 1) * C], last=layout.is_last(i))

    with ThreadPoolExecutor(2) as pool:
        parallel = list(pool.map(seal, range(layout.chunk_count)))
        assert parallel == encrypt(cipher, plaintext)
        opened = pool.map(
            lambda i: cipher.open_chunk(i, parallel[i], last=layout.is_last(i)), range(layout.chunk_count)
        )
        assert b"".join(opened) == plaintext


def test_seal_chunk_refuses_sizes_that_break_the_layout(cipher: s.PayloadCipher) -> None:
    with pytest.raises(ValueError):
        cipher.seal_chunk(0, b"short", last=False)
    with pytest.raises(ValueError):
        cipher.seal_chunk(1, b"", last=True)  # only an empty file has an empty chunk
    with pytest.raises(ValueError):
        cipher.seal_chunk(0, pattern(C + 1), last=True)


# --- closed-form ranges --------------------------------------------------------------------


def test_layout_formulas() -> None:
    layout = s.Layout(2 * C + 1)
    assert (layout.chunk_count, layout.ciphertext_length) == (3, 2 * CT + 17)
    assert layout.chunk_span(1) == (CT, 2 * CT)
    assert layout.chunk_span(2) == (2 * CT, 2 * CT + 17)
    plan = layout.ciphertext_range(C - 1, C + 2)
    assert (plan.first_chunk, plan.stop_chunk, plan.ciphertext_start, plan.ciphertext_stop) == (0, 2, 0, 2 * CT)
    assert (plan.skip, plan.length, plan.http_range) == (C - 1, 3, f"bytes=0-{2 * CT - 1}")
    assert layout.ciphertext_range(5, 5).http_range is None
    assert s.Layout(0).ciphertext_range() == s.RangePlan(0, 1, 0, 16, 0, 0)  # the empty chunk proves emptiness
    assert layout.plaintext_range(0, CT - 1) == (0, 0)
    assert layout.plaintext_range(1, 2 * CT + 5) == (C, 2 * C)
    assert layout.plaintext_range(0, 10**12) == (0, 2 * C + 1)


@pytest.mark.parametrize("size", [1, 15, CT + 15, CT + 16, 2 * CT + 3])
def test_impossible_ciphertext_sizes_are_refused(size: int) -> None:
    with pytest.raises(MalformedData):
        s.Layout.from_ciphertext_length(size)


def ranges(length: int, rng: random.Random) -> list[tuple[int, int]]:
    edges = sorted({e for b in range(0, length + 1, C) for e in (b - 1, b, b + 1) if 0 <= e <= length} | {0, length})
    picked = [(a, b) for a in edges for b in edges if a <= b]
    picked += [tuple(sorted((rng.randint(0, length), rng.randint(0, length)))) for _ in range(100)]  # type: ignore[misc]
    return picked


@pytest.mark.parametrize("length", [1, C, 3 * C + 7])
def test_ranged_decryption_of_arbitrary_ranges(cipher: s.PayloadCipher, length: int) -> None:
    plaintext = pattern(length)
    ciphertext = b"".join(encrypt(cipher, plaintext))
    layout = s.Layout(length)
    for start, stop in ranges(length, random.Random(length)):
        plan = layout.ciphertext_range(start, stop)
        fetched = ciphertext[plan.ciphertext_start : plan.ciphertext_stop]  # one HTTP Range request
        if start < stop:  # exactly the chunks holding the first and the last byte, and those between
            assert (plan.first_chunk, plan.stop_chunk) == (start // C, (stop - 1) // C + 1)
        decryptor = s.Decryptor(cipher, length, start, stop)
        assert decryptor.plan == plan
        out = decryptor.update(fetched)
        decryptor.finish()
        assert out == plaintext[start:stop], (start, stop)


def test_a_download_resumes_from_what_authenticated(cipher: s.PayloadCipher) -> None:
    length = 4 * C + 123
    plaintext = pattern(length)
    ciphertext = b"".join(encrypt(cipher, plaintext))
    layout = s.Layout(length)
    first = s.Decryptor(cipher, length)
    received = ciphertext[: 2 * CT + 999]  # the link dropped here
    released = first.update(received)
    assert layout.plaintext_range(0, len(received)) == (0, len(released)) == (0, 2 * C)
    second = s.Decryptor(cipher, length, start=len(released))
    assert second.plan.ciphertext_start == 2 * CT
    rest = second.update(ciphertext[second.plan.ciphertext_start :])
    second.finish()
    assert released + rest == plaintext


# --- tampering -----------------------------------------------------------------------------


def decrypt_all(cipher: s.PayloadCipher, length: int, ciphertext: bytes) -> bytes:
    decryptor = s.Decryptor(cipher, length)
    out = decryptor.update(ciphertext)
    decryptor.finish()
    return out


def assert_clear(error: CryptoError) -> None:
    text = str(error)
    assert "corrupted or tampered with" in text
    assert "Decryption failed" not in text  # never libsodium's words
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize("length", [0, 1, C, C + 1, 3 * C + 1])
def test_truncation_at_every_chunk_boundary_and_inside_chunks(cipher: s.PayloadCipher, length: int) -> None:
    ciphertext = b"".join(encrypt(cipher, pattern(length)))
    layout = s.Layout(length)
    cuts = {layout.chunk_span(i)[0] for i in range(layout.chunk_count)}
    cuts |= {c + d for c in cuts for d in (1, 16, 17)} | {len(ciphertext) - 1}
    for cut in sorted(c for c in cuts if c < len(ciphertext)):
        with pytest.raises(TruncatedData) as caught:
            decrypt_all(cipher, length, ciphertext[:cut])
        assert_clear(caught.value)


@pytest.mark.parametrize("length", [C, 2 * C, 3 * C + 1])
def test_a_stream_cut_at_a_boundary_fails_even_if_its_length_were_believed(
    cipher: s.PayloadCipher, length: int
) -> None:
    """Without the header: the last-chunk flag alone exposes a truncation (age's STREAM)."""
    chunks = encrypt(cipher, pattern(length + 1))
    for keep in range(1, len(chunks)):
        with pytest.raises(TamperedData, match="last chunk"):
            decrypt_all(cipher, keep * C, b"".join(chunks[:keep]))


def test_trailing_data_is_refused(cipher: s.PayloadCipher) -> None:
    for length in (0, C, C + 5):
        ciphertext = b"".join(encrypt(cipher, pattern(length)))
        with pytest.raises(TrailingData) as caught:
            decrypt_all(cipher, length, ciphertext + b"\x00")
        assert_clear(caught.value)
        extra_chunk = cipher.seal_chunk(s.Layout(length).chunk_count, b"x", last=True)
        with pytest.raises(TrailingData):
            decrypt_all(cipher, length, ciphertext + extra_chunk)


def test_swapped_and_duplicated_chunks_fail(cipher: s.PayloadCipher) -> None:
    length = 3 * C + 1
    c0, c1, c2, c3 = encrypt(cipher, pattern(length))
    for forged in ([c1, c0, c2, c3], [c0, c2, c1, c3], [c0, c0, c2, c3], [c0, c1, c1, c3], [c0, c1, c2, c2[:17]]):
        with pytest.raises(TamperedData) as caught:
            decrypt_all(cipher, length, b"".join(forged))
        assert_clear(caught.value)


@pytest.mark.parametrize(
    "other",
    [
        s.PayloadCipher.for_file(FILE_KEY, FILE_ID, 2),  # another version, same key
        s.PayloadCipher.for_file(FILE_KEY, bytes(16), 1),  # another file, same key
        s.PayloadCipher.for_file(bytes(32), FILE_ID, 1),  # another key
    ],
)
def test_chunks_spliced_from_another_file_version_or_key_fail(cipher: s.PayloadCipher, other: s.PayloadCipher) -> None:
    length = 2 * C + 1
    ours, theirs = encrypt(cipher, pattern(length)), encrypt(other, pattern(length))
    for i in range(3):
        forged = ours[:i] + [theirs[i]] + ours[i + 1 :]
        with pytest.raises(TamperedData, match=f"chunk {i} failed"):
            decrypt_all(cipher, length, b"".join(forged))


def test_a_flipped_bit_anywhere_fails(cipher: s.PayloadCipher) -> None:
    length = C + 40
    ciphertext = b"".join(encrypt(cipher, pattern(length)))
    positions = [0, 1, C - 1, C, CT - 1, CT, CT + 20, len(ciphertext) - 16, len(ciphertext) - 1]  # data and tags
    for pos in positions:
        for bit in (0x01, 0x80):
            forged = bytearray(ciphertext)
            forged[pos] ^= bit
            with pytest.raises(TamperedData) as caught:
                decrypt_all(cipher, length, bytes(forged))
            assert_clear(caught.value)


def test_only_authenticated_bytes_are_released(cipher: s.PayloadCipher) -> None:
    length = 3 * C
    c0, c1, c2 = encrypt(cipher, pattern(length))
    decryptor = s.Decryptor(cipher, length)
    assert decryptor.update(c0[:-1]) == b""  # not a byte before its tag checks
    assert decryptor.update(c0[-1:]) == pattern(length)[:C]
    bad = bytearray(c1)
    bad[-1] ^= 1
    with pytest.raises(TamperedData):
        decryptor.update(bytes(bad))
    with pytest.raises(ValueError, match="finished"):  # a failed stream stays failed
        decryptor.update(c1 + c2)


def test_open_chunk_refuses_wrong_sizes_as_tampering(cipher: s.PayloadCipher) -> None:
    chunk = cipher.seal_chunk(0, pattern(C), last=False)
    with pytest.raises(TamperedData, match="wrong size"):
        cipher.open_chunk(0, chunk[:-1], last=False)
    with pytest.raises(TamperedData, match="wrong size"):
        cipher.open_chunk(3, chunk[:16], last=True)


def test_the_sha256_check_catches_a_wrong_digest(cipher: s.PayloadCipher) -> None:
    ciphertext = b"".join(encrypt(cipher, pattern(100)))
    decryptor = s.Decryptor(cipher, 100, expected_sha256=bytes(32))
    decryptor.update(ciphertext)
    with pytest.raises(TamperedData, match="SHA-256"):
        decryptor.finish()
    with pytest.raises(ValueError):
        s.Decryptor(cipher, 100, 1, 50, expected_sha256=bytes(32))


def test_bad_arguments_are_programming_errors_not_crypto_errors() -> None:
    with pytest.raises(ValueError):
        s.FileKeys.derive(b"short", FILE_ID, 1)
    with pytest.raises(ValueError):
        s.FileKeys.derive(FILE_KEY, b"abc", 1)
    with pytest.raises(ValueError):
        s.FileKeys.derive(FILE_KEY, FILE_ID, 2**32)
    with pytest.raises(ValueError):
        s.Layout(5).ciphertext_range(3, 6)
    keys = s.FileKeys.derive(FILE_KEY, FILE_ID, 1)
    assert keys.payload_key.hex() not in repr(keys) and keys.metadata_key.hex() not in repr(keys)
