#!/usr/bin/env python3
"""Crypto core probe (not a test): payload encrypt/decrypt throughput, 1 and 2 threads.

Usage: .venv/bin/python bench_crypto_probe.py [--mib 256] [--repeat 3]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor

import nacl

from filehub.crypto import stream as s

C = s.CHUNK_SIZE
BATCH = 64  # chunks per thread task (4 MiB): keeps per-task overhead small


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    size = a.mib * 2**20
    plaintext = os.urandom(size)
    cipher = s.PayloadCipher.for_file(s.new_file_key(), os.urandom(16), 1)
    layout = s.Layout(size)
    n = layout.chunk_count
    view = memoryview(plaintext)

    def seal_range(lo: int, hi: int) -> int:  # output dropped, as when streamed to the network
        return sum(len(cipher.seal_chunk(i, bytes(view[i * C:(i + 1) * C]), last=(i == n - 1))) for i in range(lo, hi))

    ciphertext = b"".join(cipher.seal_chunk(i, bytes(view[i * C:(i + 1) * C]), last=(i == n - 1)) for i in range(n))
    cview = memoryview(ciphertext)

    def open_range(lo: int, hi: int) -> int:
        total = 0
        for i in range(lo, hi):
            start, stop = layout.chunk_span(i)
            total += len(cipher.open_chunk(i, bytes(cview[start:stop]), last=layout.is_last(i)))
        return total

    def stream_encrypt() -> None:  # Encryptor: also SHA-256 of the plaintext
        enc = s.Encryptor(cipher)
        for off in range(0, size, 1 << 20):
            enc.update(bytes(view[off:off + (1 << 20)]))
        enc.finish()

    def stream_decrypt() -> None:
        dec = s.Decryptor(cipher, size)
        for off in range(0, len(ciphertext), 1 << 20):
            dec.update(bytes(cview[off:off + (1 << 20)]))
        dec.finish()

    batches = [(lo, min(n, lo + BATCH)) for lo in range(0, n, BATCH)]

    def threaded(fn, workers):
        def run() -> None:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda b: fn(*b), batches))
        return run

    def hash_then_threads(workers):  # a client: SHA-256 on one thread while 1 other encrypts
        def run() -> None:
            with ThreadPoolExecutor(workers) as pool:
                digest = pool.submit(lambda: hashlib.sha256(plaintext).digest())
                list(pool.map(lambda b: seal_range(*b), batches))
                digest.result()
        return run

    print(f"# {platform.python_version()} PyNaCl {nacl.__version__} on {os.cpu_count()} CPUs; "
          f"{a.mib} MiB, {n} chunks of {C} B; best of {a.repeat}")
    rows = [
        ("encrypt, seal_chunk loop, 1 thread", lambda: seal_range(0, n)),
        ("encrypt, Encryptor (+SHA-256), 1 thread", stream_encrypt),
        ("encrypt, seal_chunk, 2 threads", threaded(seal_range, 2)),
        ("encrypt 2 threads + SHA-256 concurrently", hash_then_threads(3)),
        ("decrypt, open_chunk loop, 1 thread", lambda: open_range(0, n)),
        ("decrypt, Decryptor, 1 thread", stream_decrypt),
        ("decrypt, open_chunk, 2 threads", threaded(open_range, 2)),
        ("SHA-256 alone, 1 thread", lambda: hashlib.sha256(plaintext).digest()),
    ]
    for name, fn in rows:
        seconds = best(fn, a.repeat)
        print(f"{name:45s} {a.mib / seconds:8.0f} MiB/s")


if __name__ == "__main__":
    main()
