"""The threaded encryption pipeline is byte for byte the reference Encryptor, from any chunk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from filehub.client.pipeline import Pipeline, hash_prefix
from filehub.client.upload import ciphertext_slice
from filehub.crypto.stream import CHUNK_SIZE, CIPHERTEXT_CHUNK_SIZE, Encryptor, Layout, PayloadCipher, new_file_key

FILE_ID = bytes(range(16))
SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * CHUNK_SIZE, 7 * CHUNK_SIZE + 5]


def reference(cipher: PayloadCipher, data: bytes) -> bytes:
    encryptor = Encryptor(cipher)
    chunks = encryptor.update(data[: len(data) // 3]) + encryptor.update(data[len(data) // 3 :])
    return b"".join(chunks) + encryptor.finish()


async def collect(pipeline: Pipeline, cipher: PayloadCipher, path: Path, first: int, stop: int, hasher=None) -> bytes:
    layout = Layout(path.stat().st_size)
    fd = os.open(path, os.O_RDONLY)
    try:
        return b"".join([b async for b in pipeline.batches(cipher, fd, layout, first, stop, hasher)])
    finally:
        os.close(fd)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("workers", "batch", "depth"), [(1, 1, 1), (2, 2, 3), (4, 16, 8)])
async def test_parallel_batches_equal_the_encryptor(tmp_path: Path, size: int, workers: int, batch: int,
                                                    depth: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "evidence.bin"
    path.write_bytes(data)
    cipher = PayloadCipher.for_file(new_file_key(), FILE_ID, 1)
    hasher = hashlib.sha256()
    with Pipeline(workers, batch=batch, depth=depth) as pipeline:
        produced = await collect(pipeline, cipher, path, 0, Layout(size).chunk_count, hasher)
    assert produced == reference(cipher, data)
    assert hasher.digest() == hashlib.sha256(data).digest()


async def test_resuming_from_any_chunk_yields_the_same_suffix_and_digest(tmp_path: Path) -> None:
    data = os.urandom(6 * CHUNK_SIZE + 1234)
    path = tmp_path / "evidence.bin"
    path.write_bytes(data)
    key = new_file_key()
    full = reference(PayloadCipher.for_file(key, FILE_ID, 1), data)
    layout = Layout(len(data))
    with Pipeline(2, batch=3) as pipeline:
        for first in range(layout.chunk_count):
            hasher = hashlib.sha256()
            fd = os.open(path, os.O_RDONLY)
            try:
                hash_prefix(fd, first * CHUNK_SIZE, hasher, block=7777)
            finally:
                os.close(fd)
            # a fresh cipher from the same key, as a restarted process would build it
            suffix = await collect(pipeline, PayloadCipher.for_file(key, FILE_ID, 1), path, first,
                                   layout.chunk_count, hasher)
            assert suffix == full[first * CIPHERTEXT_CHUNK_SIZE :]
            assert hasher.digest() == hashlib.sha256(data).digest()


async def test_a_different_key_never_reproduces_the_ciphertext(tmp_path: Path) -> None:
    path = tmp_path / "evidence.bin"
    path.write_bytes(os.urandom(3 * CHUNK_SIZE))
    with Pipeline(2) as pipeline:
        one = await collect(pipeline, PayloadCipher.for_file(new_file_key(), FILE_ID, 1), path, 0, 3)
        two = await collect(pipeline, PayloadCipher.for_file(new_file_key(), FILE_ID, 1), path, 0, 3)
    assert one != two


@pytest.mark.parametrize("offset", [0, 1, CIPHERTEXT_CHUNK_SIZE - 1, CIPHERTEXT_CHUNK_SIZE, 2 * CIPHERTEXT_CHUNK_SIZE + 17])
async def test_the_patch_body_starts_exactly_at_the_server_offset(tmp_path: Path, offset: int) -> None:
    """A resumed PATCH re-encrypts the chunk holding the offset and sends only its tail."""
    data = os.urandom(4 * CHUNK_SIZE + 10)
    path = tmp_path / "evidence.bin"
    path.write_bytes(data)
    cipher = PayloadCipher.for_file(new_file_key(), FILE_ID, 1)
    full = reference(cipher, data)
    end = 3 * CIPHERTEXT_CHUNK_SIZE + 100  # a segment may end inside a chunk too
    layout = Layout(len(data))
    fd = os.open(path, os.O_RDONLY)
    try:
        with Pipeline(2, batch=2) as pipeline:
            blocks = pipeline.batches(cipher, fd, layout, offset // CIPHERTEXT_CHUNK_SIZE, 4, None)
            body = b"".join([b async for b in ciphertext_slice(blocks, offset, end)])
    finally:
        os.close(fd)
    assert body == full[offset:end]
