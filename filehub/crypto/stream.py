"""The payload: age's STREAM (chunked AEAD), made seekable and bound to a file and version.

The whole scheme (docs/format.md §3-§5):

    FK            32 random bytes, one per (file, version); never reused
    PRK           = HKDF-Extract(salt = file_id || u32(version), IKM = FK)        RFC 5869 §2.2
    payload key   = HKDF-Expand(PRK, "filehub-e2e/v1 payload key", 32)           RFC 5869 §2.3
    metadata key, metadata nonce key, key commitment: the same, with their own info strings
    chunk i       = ChaCha20-Poly1305-IETF(payload key, nonce = u88(i) || last flag,
                                           aad = context(file_id, version), plaintext[i*C:(i+1)*C])

Chunks hold C = 64 KiB of plaintext (the last one 1..C bytes; an empty file is one empty last
chunk), so every ciphertext chunk but the last is exactly C + 16 bytes and plaintext offsets map
to ciphertext offsets in closed form. The nonce carries the index and the last-chunk flag, so a
chunk decrypts alone, and reordered, duplicated, truncated or extended streams fail to
authenticate. The AAD and the HKDF salt carry the file and version, so chunks spliced from
another file or version fail too. Integers are big-endian. Pure: no IO, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions

from filehub.crypto import FORMAT_VERSION, MAGIC, TAMPERED, MalformedData, TamperedData, TrailingData, TruncatedData

SUITE = 1  # HKDF-SHA256, ChaCha20-Poly1305-IETF, Ed25519, X25519 sealed boxes, Argon2id
CHUNK_SIZE = 64 * 1024  # plaintext bytes per chunk (age's STREAM; DESIGN.md §2 figures)
TAG_SIZE = 16  # Poly1305 tag per chunk
CIPHERTEXT_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE  # 65,552 bytes
KEY_SIZE = 32  # file key, derived keys and key commitment
FILE_ID_SIZE = 16  # the 128-bit file id (filehub.ids), as bytes
NONCE_SIZE = 12  # ChaCha20-Poly1305-IETF
COUNTER_SIZE = NONCE_SIZE - 1  # 88-bit chunk counter; the last byte is the flag
LAST_CHUNK, NOT_LAST_CHUNK = b"\x01", b"\x00"
MAX_VERSION = 2**32 - 1  # u32 in the AAD and the header
MAX_PLAINTEXT_LENGTH = 2**64 - 1  # u64 in the header; 2**48 chunks, far below 2**88

INFO_PAYLOAD_KEY = b"filehub-e2e/v1 payload key"
INFO_METADATA_KEY = b"filehub-e2e/v1 metadata key"
INFO_METADATA_NONCE_KEY = b"filehub-e2e/v1 metadata nonce key"
INFO_KEY_COMMITMENT = b"filehub-e2e/v1 key commitment"


# --- HKDF-SHA256 (RFC 5869) ----------------------------------------------------------------


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    """RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM). An empty salt acts as HashLen zeros (HMAC
    pads keys with zeros), as the RFC requires."""
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.3: T(i) = HMAC-Hash(PRK, T(i-1) || info || i); OKM = first L octets."""
    if not 0 <= length <= 255 * 32:
        raise ValueError("HKDF-SHA256 output length must be in [0, 8160] bytes")
    okm, block = b"", b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
    return okm[:length]


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


# --- keys and context ----------------------------------------------------------------------


def new_file_key() -> bytes:
    """A fresh file key. Use one per (file, version), never two plaintexts under one key."""
    return secrets.token_bytes(KEY_SIZE)


def check_file_id(file_id: bytes) -> None:
    if not isinstance(file_id, bytes) or len(file_id) != FILE_ID_SIZE:
        raise ValueError(f"a file id is {FILE_ID_SIZE} bytes (bytes.fromhex of the 32-hex-digit id)")


def check_version(version: int) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= MAX_VERSION:
        raise ValueError(f"a file version is an integer in [0, {MAX_VERSION}]")


def context(file_id: bytes, version: int) -> bytes:
    """The payload AAD: magic || format || u16 suite || u32 chunk size || file_id || u32 version."""
    check_file_id(file_id)
    check_version(version)
    suite_and_size = SUITE.to_bytes(2, "big") + CHUNK_SIZE.to_bytes(4, "big")
    return MAGIC + bytes([FORMAT_VERSION]) + suite_and_size + file_id + version.to_bytes(4, "big")


@dataclass(frozen=True, repr=False)
class FileKeys:
    """Everything derived from one file key for one (file, version)."""

    file_id: bytes
    version: int
    payload_key: bytes
    metadata_key: bytes
    metadata_nonce_key: bytes
    key_commitment: bytes  # public: stored in the signed header

    def __repr__(self) -> str:  # never a key
        return f"FileKeys(file_id={self.file_id.hex()}, version={self.version})"

    @classmethod
    def derive(cls, file_key: bytes, file_id: bytes, version: int) -> FileKeys:
        if not isinstance(file_key, bytes) or len(file_key) != KEY_SIZE:
            raise ValueError(f"a file key is {KEY_SIZE} bytes")
        check_file_id(file_id)
        check_version(version)
        prk = hkdf_extract(file_id + version.to_bytes(4, "big"), file_key)
        return cls(
            file_id,
            version,
            payload_key=hkdf_expand(prk, INFO_PAYLOAD_KEY, KEY_SIZE),
            metadata_key=hkdf_expand(prk, INFO_METADATA_KEY, KEY_SIZE),
            metadata_nonce_key=hkdf_expand(prk, INFO_METADATA_NONCE_KEY, KEY_SIZE),
            key_commitment=hkdf_expand(prk, INFO_KEY_COMMITMENT, KEY_SIZE),
        )

    def commits_to(self, key_commitment: bytes) -> bool:
        return hmac.compare_digest(self.key_commitment, key_commitment)


def chunk_nonce(index: int, last: bool) -> bytes:
    """u88 big-endian chunk index || 0x01 for the last chunk, 0x00 otherwise (age's STREAM)."""
    return index.to_bytes(COUNTER_SIZE, "big") + (LAST_CHUNK if last else NOT_LAST_CHUNK)


# --- layout: closed-form offsets -----------------------------------------------------------


@dataclass(frozen=True)
class RangePlan:
    """What to fetch for a plaintext range, and what to keep of it once decrypted."""

    first_chunk: int  # index of the first chunk to fetch
    stop_chunk: int  # one past the last chunk to fetch
    ciphertext_start: int  # first ciphertext byte (HTTP Range first-byte-pos)
    ciphertext_stop: int  # one past the last ciphertext byte (last-byte-pos + 1)
    skip: int  # plaintext bytes to drop from the start of the first chunk
    length: int  # plaintext bytes to release

    @property
    def http_range(self) -> str | None:
        """The Range header value, or None when there is nothing to fetch."""
        if self.ciphertext_stop == self.ciphertext_start:
            return None
        return f"bytes={self.ciphertext_start}-{self.ciphertext_stop - 1}"


@dataclass(frozen=True)
class Layout:
    """Chunk geometry of a payload of ``plaintext_length`` bytes (from the signed header)."""

    plaintext_length: int

    def __post_init__(self) -> None:
        n = self.plaintext_length
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_PLAINTEXT_LENGTH:
            raise ValueError(f"a plaintext length is an integer in [0, {MAX_PLAINTEXT_LENGTH}]")

    @property
    def chunk_count(self) -> int:
        return max(1, -(-self.plaintext_length // CHUNK_SIZE))

    @property
    def ciphertext_length(self) -> int:
        return self.plaintext_length + TAG_SIZE * self.chunk_count

    def is_last(self, index: int) -> bool:
        return index == self.chunk_count - 1

    def chunk_plaintext_size(self, index: int) -> int:
        if not 0 <= index < self.chunk_count:
            raise IndexError(f"chunk {index} is outside a payload of {self.chunk_count} chunks")
        return self.plaintext_length - index * CHUNK_SIZE if self.is_last(index) else CHUNK_SIZE

    def chunk_span(self, index: int) -> tuple[int, int]:
        """Ciphertext byte range [start, stop) of chunk ``index``."""
        start = index * CIPHERTEXT_CHUNK_SIZE
        return start, start + TAG_SIZE + self.chunk_plaintext_size(index)

    def ciphertext_range(self, start: int = 0, stop: int | None = None) -> RangePlan:
        """Plaintext [start, stop) -> the whole chunks covering it. An empty range fetches
        nothing, except the whole of an empty file: its one empty chunk proves it is empty."""
        stop = self.plaintext_length if stop is None else stop
        if not 0 <= start <= stop <= self.plaintext_length:
            raise ValueError(f"plaintext range [{start}, {stop}) is outside [0, {self.plaintext_length})")
        if self.plaintext_length == 0:
            return RangePlan(0, 1, 0, TAG_SIZE, 0, 0)
        if start == stop:
            first = min(start // CHUNK_SIZE, self.chunk_count - 1)
            offset = first * CIPHERTEXT_CHUNK_SIZE
            return RangePlan(first, first, offset, offset, 0, 0)
        first, last = start // CHUNK_SIZE, (stop - 1) // CHUNK_SIZE
        return RangePlan(
            first_chunk=first,
            stop_chunk=last + 1,
            ciphertext_start=first * CIPHERTEXT_CHUNK_SIZE,
            ciphertext_stop=self.chunk_span(last)[1],
            skip=start - first * CHUNK_SIZE,
            length=stop - start,
        )

    def plaintext_range(self, ciphertext_start: int, ciphertext_stop: int) -> tuple[int, int]:
        """Ciphertext [start, stop) -> the plaintext range of the whole chunks inside it
        (what a partial download can release, e.g. to resume from)."""
        if not 0 <= ciphertext_start <= ciphertext_stop:
            raise ValueError("a ciphertext range needs 0 <= start <= stop")
        first = -(-ciphertext_start // CIPHERTEXT_CHUNK_SIZE)
        if ciphertext_stop >= self.ciphertext_length:
            stop_chunk = self.chunk_count
        else:
            stop_chunk = ciphertext_stop // CIPHERTEXT_CHUNK_SIZE
        begin = min(first * CHUNK_SIZE, self.plaintext_length)
        return begin, max(begin, min(stop_chunk * CHUNK_SIZE, self.plaintext_length))

    @classmethod
    def from_ciphertext_length(cls, length: int) -> Layout:
        """The layout of a stored payload, or MalformedData if no plaintext has that size."""
        chunks = max(1, -(-length // CIPHERTEXT_CHUNK_SIZE))
        tail = length - (chunks - 1) * CIPHERTEXT_CHUNK_SIZE
        if length < TAG_SIZE or tail < TAG_SIZE or (chunks > 1 and tail == TAG_SIZE):
            raise MalformedData(f"{length} bytes is not the size of any encrypted payload")
        return cls(length - TAG_SIZE * chunks)


# --- chunks --------------------------------------------------------------------------------


class PayloadCipher:
    """Seals and opens single chunks. Immutable, so threads may share it (libsodium releases
    the GIL): chunk i can be encrypted or decrypted independently of the others."""

    __slots__ = ("_aad", "_key")

    def __init__(self, keys: FileKeys):
        self._key = keys.payload_key
        self._aad = context(keys.file_id, keys.version)

    @classmethod
    def for_file(cls, file_key: bytes, file_id: bytes, version: int) -> PayloadCipher:
        return cls(FileKeys.derive(file_key, file_id, version))

    def seal_chunk(self, index: int, plaintext: bytes, *, last: bool) -> bytes:
        """Chunk ``index``: C bytes, or 1..C if last (0 only for the one chunk of an empty file)."""
        size = len(plaintext)
        if last and not (0 < size <= CHUNK_SIZE or size == index == 0):
            raise ValueError(f"the last chunk holds 1..{CHUNK_SIZE} bytes (0 only for an empty file)")
        if not last and size != CHUNK_SIZE:
            raise ValueError(f"every chunk but the last holds exactly {CHUNK_SIZE} bytes")
        nonce = chunk_nonce(index, last)
        return nacl.bindings.crypto_aead_chacha20poly1305_ietf_encrypt(bytes(plaintext), self._aad, nonce, self._key)

    def open_chunk(self, index: int, ciphertext: bytes, *, last: bool) -> bytes:
        """The authenticated plaintext of chunk ``index``, or TamperedData."""
        size = len(ciphertext)
        if last:
            valid = TAG_SIZE < size <= CIPHERTEXT_CHUNK_SIZE or size == TAG_SIZE and index == 0
        else:
            valid = size == CIPHERTEXT_CHUNK_SIZE
        if not valid:
            raise TamperedData(f"chunk {index} has the wrong size ({size} bytes): {TAMPERED}")
        try:
            return nacl.bindings.crypto_aead_chacha20poly1305_ietf_decrypt(
                bytes(ciphertext), self._aad, chunk_nonce(index, last), self._key
            )
        except nacl.exceptions.CryptoError:  # libsodium's text says nothing useful
            where = "last chunk" if last else "chunk"
            raise TamperedData(f"{where} {index} failed authentication: {TAMPERED}") from None


# --- streams -------------------------------------------------------------------------------


class Encryptor:
    """Feed plaintext, get sealed chunks in order; ``finish()`` returns the last chunk.

    A full chunk is held back until more data arrives, because it may be the last one. The
    plaintext SHA-256 (for the header's metadata) is computed on the way.
    """

    def __init__(self, cipher: PayloadCipher):
        self._cipher = cipher
        self._pending = bytearray()
        self._index = 0
        self._hash = hashlib.sha256()
        self._length = 0
        self._finished = False

    def update(self, data: bytes) -> list[bytes]:
        if self._finished:
            raise ValueError("the encryptor has finished")
        self._hash.update(data)
        self._length += len(data)
        if self._length > MAX_PLAINTEXT_LENGTH:
            raise ValueError("the plaintext is longer than the format allows")
        pending = self._pending
        pending += data
        chunks, pos = [], 0
        with memoryview(pending) as view:
            while len(pending) - pos > CHUNK_SIZE:
                chunks.append(self._cipher.seal_chunk(self._index, bytes(view[pos : pos + CHUNK_SIZE]), last=False))
                self._index += 1
                pos += CHUNK_SIZE
        del pending[:pos]
        return chunks

    def finish(self) -> bytes:
        if self._finished:
            raise ValueError("the encryptor has finished")
        self._finished = True
        last = self._cipher.seal_chunk(self._index, bytes(self._pending), last=True)
        self._pending.clear()
        return last

    @property
    def plaintext_length(self) -> int:
        return self._length

    @property
    def plaintext_sha256(self) -> bytes:
        if not self._finished:
            raise ValueError("the plaintext digest is known once the encryptor has finished")
        return self._hash.digest()


class Decryptor:
    """Feed ciphertext of plaintext range [start, stop) (fetch ``plan``), get authenticated
    plaintext; ``finish()`` proves nothing was cut off. Bytes are released only after their
    chunk authenticates. With ``expected_sha256`` (whole file only) ``finish()`` checks it too.
    """

    def __init__(
        self,
        cipher: PayloadCipher,
        plaintext_length: int,
        start: int = 0,
        stop: int | None = None,
        *,
        expected_sha256: bytes | None = None,
    ):
        self.layout = Layout(plaintext_length)
        self.plan = self.layout.ciphertext_range(start, stop)
        if expected_sha256 is not None and self.plan.length != plaintext_length:
            raise ValueError("the plaintext SHA-256 can only be checked over the whole file")
        self._cipher = cipher
        self._pending = bytearray()
        self._index = self.plan.first_chunk
        self._expected_ciphertext = self.plan.ciphertext_stop - self.plan.ciphertext_start
        self._received = 0
        self._skip, self._left = self.plan.skip, self.plan.length
        self._expected_sha256 = expected_sha256
        self._hash = hashlib.sha256() if expected_sha256 is not None else None
        self._finished = False

    def update(self, data: bytes) -> bytes:
        """Authenticated plaintext of the chunks ``data`` completes. After a CryptoError the
        decryptor is dead: the stream is bad, discard what it released (docs/format.md §11)."""
        if self._finished:
            raise ValueError("the decryptor has finished")
        self._received += len(data)
        if self._received > self._expected_ciphertext:
            self._finished = True
            extra = self._received - self._expected_ciphertext
            raise TrailingData(f"{extra} unexpected bytes follow the last chunk: {TAMPERED}")
        pending = self._pending
        pending += data
        released, pos = [], 0
        with memoryview(pending) as view:
            while self._index < self.plan.stop_chunk:
                start, stop = self.layout.chunk_span(self._index)
                if len(pending) - pos < stop - start:
                    break
                chunk = bytes(view[pos : pos + stop - start])
                try:
                    plaintext = self._cipher.open_chunk(self._index, chunk, last=self.layout.is_last(self._index))
                except TamperedData:
                    self._finished = True
                    raise
                released.append(self._release(plaintext))
                pos += stop - start
                self._index += 1
        del pending[:pos]
        return b"".join(released)

    def _release(self, plaintext: bytes) -> bytes:
        if self._skip or len(plaintext) > self._left:
            plaintext = plaintext[self._skip : self._skip + self._left]
            self._skip = 0
        self._left -= len(plaintext)
        if self._hash is not None:
            self._hash.update(plaintext)
        return plaintext

    def finish(self) -> None:
        if self._finished:
            raise ValueError("the decryptor has finished")
        self._finished = True
        if self._index < self.plan.stop_chunk:
            raise TruncatedData(
                f"the encrypted file was truncated: chunk {self._index} of {self.layout.chunk_count} "
                f"is missing or incomplete: {TAMPERED}"
            )
        if self._hash is not None and not hmac.compare_digest(self._hash.digest(), self._expected_sha256 or b""):
            raise TamperedData(f"the decrypted file does not match the SHA-256 in its signed header: {TAMPERED}")
