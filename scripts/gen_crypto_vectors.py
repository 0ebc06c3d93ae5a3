#!/usr/bin/env python3
"""Generate the end-to-end encryption test vectors (docs/format.md §11) from fixed keys.

Every secret is SHA-256("filehub test vector: <role>"): these are public test keys. Randomness
the format normally draws (the sealed box's ephemeral key, the passphrase salt and nonce) is
fixed here too: the sealed box is built from libsodium's published construction (so the vector
also proves that construction), the locked key through the ``random`` hook.

    .venv/bin/python scripts/gen_crypto_vectors.py          # rewrite tests/vectors/crypto/
    .venv/bin/python scripts/gen_crypto_vectors.py --check  # exit 1 if the files differ

tests/unit/crypto/test_vectors.py regenerates both files byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.public

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from filehub import crypto  # noqa: E402
from filehub.crypto import header as h  # noqa: E402
from filehub.crypto import keys as k  # noqa: E402
from filehub.crypto import stream as s  # noqa: E402

VECTORS_DIR = ROOT / "tests" / "vectors" / "crypto"
FORMAT_FILE, HKDF_FILE = "format_v1.json", "hkdf_rfc5869.json"
C = s.CHUNK_SIZE
PAYLOAD_LENGTHS = [0, 1, 100, C - 1, C, C + 1, 2 * C, 2 * C + 1, 3 * C - 1]
FULL_HEX_UP_TO = 256  # bytes of ciphertext written out in full; larger ones by SHA-256 and tags
PASSPHRASE = "correct horse battery staple"
NOT_BEFORE, NOT_AFTER, NOW = 1_700_000_000, 1_800_000_000, 1_750_000_000  # POSIX seconds

# RFC 5869 Appendix A, test cases 1-3 (HKDF-SHA256), transcribed.
RFC5869 = [
    {
        "case": 1,
        "ikm": "0b" * 22,
        "salt": "000102030405060708090a0b0c",
        "info": "f0f1f2f3f4f5f6f7f8f9",
        "length": 42,
        "prk": "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
        "okm": "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    },
    {
        "case": 2,
        "ikm": bytes(range(0x00, 0x50)).hex(),
        "salt": bytes(range(0x60, 0xB0)).hex(),
        "info": bytes(range(0xB0, 0x100)).hex(),
        "length": 82,
        "prk": "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
        "okm": "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
    },
    {
        "case": 3,
        "ikm": "0b" * 22,
        "salt": "",
        "info": "",
        "length": 42,
        "prk": "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
        "okm": "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    },
]


def secret(role: str) -> bytes:
    return hashlib.sha256(b"filehub test vector: " + role.encode()).digest()


def pattern(length: int) -> bytes:
    """The vectors' plaintext: byte i is i mod 251 (a prime, so chunks differ)."""
    return bytes(i % 251 for i in range(length))


def fixed_random(role: str) -> Callable[[int], bytes]:
    """A deterministic stand-in for secrets.token_bytes: SHA-256 counter-mode stream."""

    def blocks() -> Iterator[int]:
        counter = 0
        while True:
            yield from hashlib.sha256(secret(role) + counter.to_bytes(4, "big")).digest()
            counter += 1

    stream = blocks()
    return lambda n: bytes(next(stream) for _ in range(n))


def deterministic_seal(message: bytes, recipient_public: bytes, ephemeral_secret: bytes) -> bytes:
    """libsodium crypto_box_seal with a chosen ephemeral key: epk || crypto_box(m, n, pk, esk),
    n = BLAKE2b-192(epk || pk). crypto_box_seal_open (SealedBox.decrypt) opens it."""
    ephemeral = nacl.public.PrivateKey(ephemeral_secret)
    epk = bytes(ephemeral.public_key)
    nonce = hashlib.blake2b(epk + recipient_public, digest_size=24).digest()
    return epk + nacl.bindings.crypto_box(message, nonce, recipient_public, ephemeral_secret)


def identity_vector(identity: k.Identity) -> dict[str, str]:
    return {
        "signing_seed": identity.signing_seed.hex(),
        "encryption_secret": identity.encryption_secret.hex(),
        "signing_public_key": identity.public.signing_key.hex(),
        "encryption_public_key": identity.public.encryption_key.hex(),
        "key_id": identity.key_id.hex(),
    }


def root_vector(root: k.OrgRootKey) -> dict[str, str]:
    return {"seed": root.seed.hex(), "public_key": root.public_key.hex(), "key_id": root.key_id.hex()}


def payload_vector(cipher: s.PayloadCipher, length: int) -> dict[str, Any]:
    encryptor = s.Encryptor(cipher)
    chunks = encryptor.update(pattern(length))
    chunks.append(encryptor.finish())
    ciphertext = b"".join(chunks)
    vector: dict[str, Any] = {
        "plaintext_length": length,
        "plaintext_sha256": encryptor.plaintext_sha256.hex(),
        "chunk_count": len(chunks),
        "ciphertext_length": len(ciphertext),
        "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
        "chunk_tags": [chunk[-s.TAG_SIZE :].hex() for chunk in chunks],
    }
    if len(ciphertext) <= FULL_HEX_UP_TO:
        vector["ciphertext"] = ciphertext.hex()
    return vector


def build_format_vectors() -> dict[str, Any]:
    file_key, file_id, version = secret("file key"), secret("file id")[: s.FILE_ID_SIZE], 7
    keys = s.FileKeys.derive(file_key, file_id, version)
    cipher = s.PayloadCipher(keys)
    salt = file_id + version.to_bytes(4, "big")
    uploader = k.Identity(secret("uploader signing"), secret("uploader encryption"))
    admin = k.Identity(secret("admin signing"), secret("admin encryption"))
    recipient = k.Identity(secret("recipient signing"), secret("recipient encryption"))
    police_root, defence_root = k.OrgRootKey(secret("police root")), k.OrgRootKey(secret("defence root"))

    uploader_cert = k.certify(
        uploader.public,
        org_id="police.example",
        user_id="officer-1",
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        issuer=police_root,
    )
    admin_cert = k.certify(
        admin.public,
        org_id="defence.example",
        user_id="defence-admin",
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        issuer=defence_root,
        may_certify=True,
    )
    recipient_cert = k.certify(
        recipient.public,
        org_id="defence.example",
        user_id="solicitor-1",
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        issuer=admin,
    )
    revocation = k.revoke(recipient.key_id, effective_from=NOW + 1, signer=admin, reason=k.REASON_LEFT_ORGANISATION)

    plaintext_length = 2 * C + 1
    metadata = h.Metadata(
        name="interview-room-2.mp4",
        media_type="video/mp4",
        plaintext_sha256=hashlib.sha256(pattern(plaintext_length)).digest(),
        exhibit={
            "reference": "AB/1",
            "captured_at": "2024-05-01T10:15:00Z",
            "description": "Interview, room 2 — camera 1",
        },
    )
    header = h.seal_header(
        file_key,
        file_id=file_id,
        version=version,
        plaintext_length=plaintext_length,
        metadata=metadata,
        uploader=uploader,
    )
    decoded = h.Header.decode(header)

    ephemeral = secret("sealed box ephemeral")
    sealed = deterministic_seal(
        file_key + file_id + version.to_bytes(4, "big"), recipient.public.encryption_key, ephemeral
    )
    row = h.WrappedKey.create(file_id, version, recipient.key_id, sealed, uploader).encode()

    locked = recipient.lock(PASSPHRASE, opslimit=1, memlimit=8192, random=fixed_random("locked identity"))

    return {
        "about": "Generated by scripts/gen_crypto_vectors.py from fixed secrets: "
        "SHA-256('filehub test vector: <role>'). Public test keys; never use them. "
        "Plaintext byte i is i mod 251. Times are POSIX seconds.",
        "constants": {
            "magic": crypto.MAGIC.hex(),
            "format_version": crypto.FORMAT_VERSION,
            "suite": s.SUITE,
            "chunk_size": C,
            "ciphertext_chunk_size": s.CIPHERTEXT_CHUNK_SIZE,
            "info_payload_key": s.INFO_PAYLOAD_KEY.decode(),
            "info_metadata_key": s.INFO_METADATA_KEY.decode(),
            "info_metadata_nonce_key": s.INFO_METADATA_NONCE_KEY.decode(),
            "info_key_commitment": s.INFO_KEY_COMMITMENT.decode(),
            "info_key_id": k.INFO_KEY_ID.decode(),
        },
        "file": {"file_key": file_key.hex(), "file_id": file_id.hex(), "version": version},
        "kdf": {
            "salt": salt.hex(),
            "prk": s.hkdf_extract(salt, file_key).hex(),
            "payload_key": keys.payload_key.hex(),
            "metadata_key": keys.metadata_key.hex(),
            "metadata_nonce_key": keys.metadata_nonce_key.hex(),
            "key_commitment": keys.key_commitment.hex(),
        },
        "aad": s.context(file_id, version).hex(),
        "nonces": {"chunk_0": s.chunk_nonce(0, False).hex(), "chunk_5_last": s.chunk_nonce(5, True).hex()},
        "payloads": [payload_vector(cipher, n) for n in PAYLOAD_LENGTHS],
        "identities": {
            "uploader": identity_vector(uploader),
            "admin": identity_vector(admin),
            "recipient": identity_vector(recipient),
            "police_root": root_vector(police_root),
            "defence_root": root_vector(defence_root),
        },
        "certificates": {
            "not_before": NOT_BEFORE,
            "not_after": NOT_AFTER,
            "now": NOW,
            "uploader_by_root": uploader_cert.hex(),
            "admin_by_root": admin_cert.hex(),
            "recipient_by_admin": recipient_cert.hex(),
            "recipient_revoked_by_admin": revocation.hex(),
        },
        "header": {
            "metadata_json": metadata.to_json().decode(),
            "metadata_nonce": decoded.metadata_nonce.hex(),
            "plaintext_length": plaintext_length,
            "encoded": header.hex(),
        },
        "wrapped_key": {
            "ephemeral_secret": ephemeral.hex(),
            "sealed_key": sealed.hex(),
            "row": row.hex(),
        },
        "locked_identity": {
            "passphrase": PASSPHRASE,
            "opslimit": 1,
            "memlimit": 8192,
            "blob": locked.hex(),
        },
    }


def render(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def build_all() -> dict[str, str]:
    """File name -> exact file text."""
    hkdf = {
        "about": "RFC 5869 Appendix A, test cases 1-3 (HKDF-SHA256), transcribed by scripts/gen_crypto_vectors.py.",
        "cases": RFC5869,
    }
    return {FORMAT_FILE: render(build_format_vectors()), HKDF_FILE: render(hkdf)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args()
    differ = False
    for name, text in build_all().items():
        path = VECTORS_DIR / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                print(f"{path} differs from what the generator produces", file=sys.stderr)
                differ = True
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
