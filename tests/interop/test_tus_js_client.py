"""Interoperability with tus-js-client 4 (Node) against a real server.

``tests/interop/js/upload.mjs`` drives the client; ``scripts/setup --test`` installs it
(``npm ci`` in tests/interop/js). Without ``node`` on PATH these tests are skipped with
the reason given; without the installed package they fail, saying how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import FilehubServer, assert_stored, random_file, tus_head

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = JS_DIR / "upload.mjs"
NODE = shutil.which("node")
MiB = 1 << 20

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NODE is None, reason="node is not on PATH: the tus-js-client interop tests need Node >= 18"),
]


@pytest.fixture(scope="module", autouse=True)
def _client_installed() -> None:
    if not (JS_DIR / "node_modules" / "tus-js-client" / "package.json").is_file():
        pytest.fail(
            "tus-js-client is not installed: run scripts/setup --test "
            "(or `npm ci` in tests/interop/js)",
            pytrace=False,
        )


def run_client(server: FilehubServer, token: str, file: Path, *options: str, timeout: float = 30) -> dict[str, Any]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(SCRIPT), "--endpoint", server.uploads_url, "--token", token, "--file", str(file), *options],
        cwd=JS_DIR,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"upload.mjs failed ({done.returncode}):\n{done.stderr}\n{done.stdout}"
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"upload.mjs printed nothing; stderr:\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


VARIANTS = {
    "fs-stream": [],
    "buffer+creation-with-upload": ["--buffer", "--creation-with-upload"],
    "method-override": ["--override-patch"],
    # A plain Readable of unknown size. Its size must not be a multiple of the chunk size:
    # tus-js-client 4.3.1 then stalls after the last chunk (tus/tus-js-client#779).
    "defer-length": ["--defer-length"],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_chunked_upload(live_server: FilehubServer, token: str, tmp_path: Path, variant: str) -> None:
    data = random_file(tmp_path / "cctv.mp4", 3 * MiB + 321)
    options = ["--chunk-size", str(256 * 1024), *VARIANTS[variant]]
    result = run_client(live_server, token, tmp_path / "cctv.mp4", *options)
    assert result["aborted"] is False
    assert result["offset"] == result["size"] == len(data)
    assert result["url"].startswith(live_server.uploads_url + "/")
    file_id = assert_stored(live_server, token, result["url"], data, "cctv.mp4")["id"]
    assert result["fileId"] == file_id, "the response completing the upload names the file"


def test_parallel_uploads_use_concatenation(live_server: FilehubServer, token: str, tmp_path: Path) -> None:
    data = random_file(tmp_path / "interview.wav", 3 * MiB + 2)  # not divisible by 3
    result = run_client(
        live_server, token, tmp_path / "interview.wav", "--parallel", "3", "--chunk-size", str(512 * 1024)
    )
    assert result["aborted"] is False
    final = tus_head(result["url"], token)
    concat = final.headers.get("Upload-Concat", "")
    assert concat.startswith("final;"), f"not a final upload: Upload-Concat={concat!r}"
    partials = concat.removeprefix("final;").split()
    assert len(partials) == 3
    assert final.headers["Upload-Offset"] == final.headers["Upload-Length"] == str(len(data))
    file_id = assert_stored(live_server, token, result["url"], data, "interview.wav")["id"]
    assert result["fileId"] == file_id
    # The partials are uploads of their own, complete, and not files.
    sizes = []
    for path in partials:
        part = tus_head(f"{live_server.url}{path}", token)
        assert part.headers["Upload-Concat"] == "partial"
        assert part.headers["Upload-Offset"] == part.headers["Upload-Length"]
        assert "Filehub-File-Id" not in part.headers
        sizes.append(int(part.headers["Upload-Length"]))
    assert sum(sizes) == len(data)


def test_abort_then_resume_in_a_new_process(live_server: FilehubServer, token: str, tmp_path: Path) -> None:
    data = random_file(tmp_path / "bodycam.mov", 2 * MiB + 77)
    chunk = 256 * 1024
    first = run_client(
        live_server, token, tmp_path / "bodycam.mov", "--chunk-size", str(chunk), "--abort-after", str(MiB)
    )
    assert first["aborted"] is True
    assert first["offset"] == MiB
    assert first["fileId"] is None
    assert tus_head(first["url"], token).headers["Upload-Offset"] == str(MiB)

    second = run_client(
        live_server, token, tmp_path / "bodycam.mov", "--chunk-size", str(chunk), "--upload-url", first["url"]
    )
    assert second["url"] == first["url"]
    assert second["resumedAt"] == MiB
    assert second["aborted"] is False
    assert second["offset"] == len(data)
    file_id = assert_stored(live_server, token, first["url"], data, "bodycam.mov")["id"]
    assert second["fileId"] == file_id


def test_resume_after_server_sigkill_and_restart(live_server: FilehubServer, token: str, tmp_path: Path) -> None:
    data = random_file(tmp_path / "scene.jpg", MiB + 5)
    first = run_client(
        live_server, token, tmp_path / "scene.jpg", "--chunk-size", str(128 * 1024), "--abort-after", str(384 * 1024)
    )
    assert first["aborted"] is True and first["offset"] == 384 * 1024
    live_server.kill()
    live_server.start()
    second = run_client(live_server, token, tmp_path / "scene.jpg", "--upload-url", first["url"])
    assert second["resumedAt"] == 384 * 1024
    assert second["offset"] == len(data)
    assert_stored(live_server, token, first["url"], data, "scene.jpg")
