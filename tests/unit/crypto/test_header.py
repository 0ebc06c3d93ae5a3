"""The signed header, wrapped-key rows, and the whole upload -> share -> ranged download story."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import nacl.bindings
import nacl.public
import pytest

from filehub.crypto import CryptoError, MalformedData, TamperedData, UntrustedKey, WrongKey
from filehub.crypto import header as h
from filehub.crypto import keys as k
from filehub.crypto import stream as s
from tests.unit.crypto.conftest import FILE_ID, FILE_KEY, NOW, C, Member, Org, encrypt, pattern

LENGTH = 2 * C + 1
METADATA = h.Metadata(
    name="cctv-high-street.mp4",
    media_type="video/mp4",
    plaintext_sha256=hashlib.sha256(pattern(LENGTH)).digest(),
    exhibit={"reference": "JS/3", "captured_at": "2024-05-01T22:10:00Z"},
)


def sealed_header(uploader: k.Identity, **changes: object) -> bytes:
    args = {"file_key": FILE_KEY, "file_id": FILE_ID, "version": 1, "plaintext_length": LENGTH, "metadata": METADATA}
    args.update(changes)
    file_key = args.pop("file_key")
    return h.seal_header(file_key, uploader=uploader, **args)  # type: ignore[arg-type]


def open_as(officer: Member, data: bytes, file_key: bytes = FILE_KEY, file_id: bytes = FILE_ID) -> h.OpenedHeader:
    return h.open_header(data, file_key=file_key, uploader=officer.certified, file_id=file_id)


# --- header --------------------------------------------------------------------------------


def test_a_header_opens_with_the_right_key_and_uploader(police: Org) -> None:
    officer = police.member("officer-1")
    data = sealed_header(officer.identity)
    opened = open_as(officer, data)
    assert opened.metadata == METADATA
    assert (opened.header.plaintext_length, opened.header.version) == (LENGTH, 1)
    assert METADATA.name.encode() not in data  # the metadata is encrypted
    assert len(data) == 95 + 4 + 12 + len(METADATA.to_json()) + 16 + 64
    assert h.Header.decode(data).encode() == data


def test_sealing_is_deterministic_and_edited_metadata_gets_a_new_nonce(police: Org) -> None:
    officer = police.member("officer-1")
    assert sealed_header(officer.identity) == sealed_header(officer.identity)
    edited = replace(METADATA, exhibit={"reference": "JS/4"})
    first, second = (
        h.Header.decode(sealed_header(officer.identity)),
        h.Header.decode(sealed_header(officer.identity, metadata=edited)),
    )
    assert first.metadata_nonce != second.metadata_nonce  # never a reused (key, nonce) pair


def test_a_flipped_bit_anywhere_in_the_header_is_refused(police: Org) -> None:
    officer = police.member("officer-1")
    data = sealed_header(officer.identity)
    for offset in range(len(data)):
        forged = bytearray(data)
        forged[offset] ^= 0x04
        with pytest.raises(CryptoError):
            open_as(officer, bytes(forged))


def test_an_edited_field_breaks_the_signature(police: Org) -> None:
    officer = police.member("officer-1")
    header = h.Header.decode(sealed_header(officer.identity))
    for edited in (replace(header, plaintext_length=LENGTH - 1), replace(header, version=2)):
        if edited.version != header.version:
            with pytest.raises(TamperedData, match="not the one requested"):
                h.open_header(
                    edited.encode(), file_key=FILE_KEY, uploader=officer.certified, file_id=FILE_ID, version=1
                )
        with pytest.raises(TamperedData, match="signature"):
            open_as(officer, edited.encode())


def test_a_header_re_signed_by_someone_else_is_refused(police: Org) -> None:
    officer, impostor = police.member("officer-1"), police.member("officer-2")
    forged = sealed_header(impostor.identity, plaintext_length=5)
    with pytest.raises(UntrustedKey, match="not the uploader"):
        open_as(officer, forged)


def test_the_key_commitment_is_checked_before_any_payload(police: Org) -> None:
    officer = police.member("officer-1")
    with pytest.raises(WrongKey, match="key commitment"):
        open_as(officer, sealed_header(officer.identity), file_key=bytes(32))


def test_another_files_header_is_refused(police: Org) -> None:
    officer = police.member("officer-1")
    with pytest.raises(TamperedData, match="not the one requested"):
        open_as(officer, sealed_header(officer.identity), file_id=bytes(16))


def test_malformed_headers_are_refused(police: Org) -> None:
    officer = police.member("officer-1")
    data = sealed_header(officer.identity)
    unsupported_suite = data[:13] + b"\x00\x02" + data[15:]
    bad_chunk_size = data[:15] + (2 * C).to_bytes(4, "big") + data[19:]
    for forged in (data[:-1], data + b"\x00", unsupported_suite, bad_chunk_size, b"", data[:94]):
        with pytest.raises(MalformedData):
            open_as(officer, forged)


def test_metadata_that_is_not_ours_is_refused_even_when_signed(police: Org) -> None:
    officer = police.member("officer-1")
    keys = s.FileKeys.derive(FILE_KEY, FILE_ID, 1)
    for text in (b'{"name":"a"}', b"[]", b'{"name":"a","name":"b","media_type":"","plaintext_sha256":"","exhibit":{}}'):
        nonce = h._metadata_nonce(keys, text)
        header = h.Header(FILE_ID, 1, 0, keys.key_commitment, officer.identity.key_id, nonce, b"")
        sealed = nacl.bindings.crypto_aead_chacha20poly1305_ietf_encrypt(
            text, header.fields(), nonce, keys.metadata_key
        )
        header = replace(header, metadata_ciphertext=sealed)
        data = header.body() + officer.identity.sign(header.body())
        with pytest.raises(MalformedData, match="metadata"):
            open_as(officer, data)


def test_the_opened_header_hands_out_checked_decryptors(police: Org) -> None:
    officer = police.member("officer-1")
    chunks = encrypt(s.PayloadCipher.for_file(FILE_KEY, FILE_ID, 1), pattern(LENGTH))
    opened = open_as(officer, sealed_header(officer.identity))
    decryptor = opened.decryptor()
    assert decryptor.update(b"".join(chunks)) == pattern(LENGTH)
    decryptor.finish()  # and the SHA-256 matched the metadata
    assert opened.open_chunk(2, chunks[2]) == pattern(LENGTH)[2 * C :]  # flagged last by the signed length
    with pytest.raises(TamperedData):
        opened.open_chunk(1, chunks[2])


def test_a_lying_digest_is_caught_at_the_end(police: Org) -> None:
    officer = police.member("officer-1")
    lying = replace(METADATA, plaintext_sha256=bytes(32))
    opened = open_as(officer, sealed_header(officer.identity, metadata=lying))
    decryptor = opened.decryptor()
    decryptor.update(b"".join(encrypt(s.PayloadCipher.for_file(FILE_KEY, FILE_ID, 1), pattern(LENGTH))))
    with pytest.raises(TamperedData, match="SHA-256"):
        decryptor.finish()


# --- wrapped keys --------------------------------------------------------------------------


def test_a_wrapped_key_is_a_229_byte_row_only_its_recipient_opens(police: Org, defence: Org) -> None:
    officer, solicitor = police.member("officer-1"), defence.member("solicitor")
    row = h.wrap_file_key(FILE_KEY, file_id=FILE_ID, version=1, recipient=solicitor.certified, granter=officer.identity)
    assert len(row) == h.WRAPPED_KEY_SIZE == 229
    assert FILE_KEY not in row
    unwrapped = h.unwrap_file_key(
        row, recipient=solicitor.identity, granter=officer.certified, file_id=FILE_ID, version=1
    )
    assert unwrapped == FILE_KEY
    with pytest.raises(WrongKey, match="another recipient"):
        h.unwrap_file_key(row, recipient=officer.identity, granter=officer.certified, file_id=FILE_ID, version=1)


def test_wrapping_needs_a_certified_key(police: Org) -> None:
    officer = police.member("officer-1")
    with pytest.raises(TypeError, match="CertifiedKey"):
        bare_key: object = officer.identity.public  # a public key with no verified certificate
        h.wrap_file_key(FILE_KEY, file_id=FILE_ID, version=1, recipient=bare_key, granter=officer.identity)  # type: ignore[arg-type]


def test_a_wrapped_key_for_another_file_or_version_is_refused(police: Org, defence: Org) -> None:
    officer, solicitor = police.member("officer-1"), defence.member("solicitor")
    row = h.wrap_file_key(
        FILE_KEY, file_id=bytes(16), version=1, recipient=solicitor.certified, granter=officer.identity
    )
    with pytest.raises(WrongKey, match="for file"):
        h.unwrap_file_key(row, recipient=solicitor.identity, granter=officer.certified, file_id=FILE_ID, version=1)
    with pytest.raises(WrongKey, match="version"):
        h.unwrap_file_key(row, recipient=solicitor.identity, granter=officer.certified, file_id=bytes(16), version=2)


def test_a_substituted_wrapped_key_is_refused(police: Org, defence: Org) -> None:
    officer, solicitor, insider = police.member("officer-1"), defence.member("solicitor"), police.member("insider")
    row = h.WrappedKey.decode(
        h.wrap_file_key(FILE_KEY, file_id=FILE_ID, version=1, recipient=solicitor.certified, granter=officer.identity)
    )
    # (a) the server swaps in a box of a key it chose, keeping the granter's signature
    own_box = nacl.public.SealedBox(nacl.public.PublicKey(solicitor.identity.public.encryption_key))
    swapped = replace(row, sealed_key=own_box.encrypt(bytes(32) + FILE_ID + (1).to_bytes(4, "big")))
    with pytest.raises(TamperedData, match="signature"):
        h.unwrap_file_key(
            swapped.encode(), recipient=solicitor.identity, granter=officer.certified, file_id=FILE_ID, version=1
        )
    # (b) a certified insider signs a row with another key: it unwraps, and the commitment stops it
    wrong_key = bytes(32)
    insider_row = h.wrap_file_key(
        wrong_key, file_id=FILE_ID, version=1, recipient=solicitor.certified, granter=insider.identity
    )
    with pytest.raises(UntrustedKey):
        h.unwrap_file_key(
            insider_row, recipient=solicitor.identity, granter=officer.certified, file_id=FILE_ID, version=1
        )
    key = h.unwrap_file_key(
        insider_row, recipient=solicitor.identity, granter=insider.certified, file_id=FILE_ID, version=1
    )
    with pytest.raises(WrongKey, match="key commitment"):
        open_as(officer, sealed_header(officer.identity), file_key=key)
    # (c) a box lifted from another file's row into a row re-signed for this file
    other = h.WrappedKey.decode(
        h.wrap_file_key(FILE_KEY, file_id=bytes(16), version=1, recipient=solicitor.certified, granter=officer.identity)
    )
    lifted = h.WrappedKey.create(FILE_ID, 1, solicitor.certified.key_id, other.sealed_key, officer.identity)
    with pytest.raises(TamperedData, match="another file"):
        h.unwrap_file_key(
            lifted.encode(), recipient=solicitor.identity, granter=officer.certified, file_id=FILE_ID, version=1
        )


@pytest.mark.parametrize("offset", [0, 13, 29, 33, 49, 65, 100, 164, 165, 228])
def test_a_flipped_bit_in_a_row_is_refused(police: Org, defence: Org, offset: int) -> None:
    officer, solicitor = police.member("officer-1"), defence.member("solicitor")
    row = bytearray(
        h.wrap_file_key(FILE_KEY, file_id=FILE_ID, version=1, recipient=solicitor.certified, granter=officer.identity)
    )
    row[offset] ^= 0x01
    with pytest.raises(CryptoError):
        h.unwrap_file_key(
            bytes(row), recipient=solicitor.identity, granter=officer.certified, file_id=FILE_ID, version=1
        )


# --- the story -----------------------------------------------------------------------------


def test_upload_share_and_ranged_playback(police: Org, defence: Org) -> None:
    """A police officer uploads, a colleague reshares to a defence solicitor certified by the
    defence admin, who verifies everything and plays a range."""
    officer, colleague = police.member("officer-1"), police.member("officer-2")
    admin = defence.identity("admin")
    admin_cert = defence.certify("admin", may_certify=True)
    solicitor_cert = defence.certify("solicitor", issuer=admin)
    solicitor_key = defence.identity("solicitor")

    # uploader: fresh file key, stream-encrypt, sign the header, wrap for self and colleague
    file_key, plaintext = s.new_file_key(), pattern(5 * C + 77, salt=3)
    encryptor = s.Encryptor(s.PayloadCipher.for_file(file_key, FILE_ID, 3))
    stored = b"".join(encryptor.update(plaintext)) + encryptor.finish()
    metadata = h.Metadata("interview.mp4", "video/mp4", encryptor.plaintext_sha256, {"reference": "AB/1"})
    header = h.seal_header(
        file_key,
        file_id=FILE_ID,
        version=3,
        plaintext_length=encryptor.plaintext_length,
        metadata=metadata,
        uploader=officer.identity,
    )
    to_colleague = h.wrap_file_key(
        file_key, file_id=FILE_ID, version=3, recipient=colleague.certified, granter=officer.identity
    )

    # colleague: unwrap, verify the solicitor's chain against the pinned defence root, reshare
    key = h.unwrap_file_key(
        to_colleague, recipient=colleague.identity, granter=officer.certified, file_id=FILE_ID, version=3
    )
    h.open_header(header, file_key=key, uploader=officer.certified, file_id=FILE_ID)
    solicitor = k.verify_chain(
        solicitor_cert, defence.root.public_key, org_id="defence.example", now=NOW, intermediates=[admin_cert]
    )
    to_solicitor = h.wrap_file_key(key, file_id=FILE_ID, version=3, recipient=solicitor, granter=colleague.identity)

    # solicitor: verify the granter and uploader chains (police root pinned), then play a range
    granter = k.verify_chain(colleague.certificate, police.root.public_key, org_id="police.example", now=NOW)
    uploader = k.verify_chain(officer.certificate, police.root.public_key, org_id="police.example", now=NOW)
    key = h.unwrap_file_key(to_solicitor, recipient=solicitor_key, granter=granter, file_id=FILE_ID, version=3)
    opened = h.open_header(header, file_key=key, uploader=uploader, file_id=FILE_ID, version=3)
    assert opened.metadata.name == "interview.mp4"
    decryptor = opened.decryptor(3 * C - 10, 4 * C + 10)
    plan = decryptor.plan
    assert decryptor.update(stored[plan.ciphertext_start : plan.ciphertext_stop]) == plaintext[3 * C - 10 : 4 * C + 10]
    decryptor.finish()
