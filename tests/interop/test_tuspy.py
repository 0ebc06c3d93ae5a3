"""Interoperability with tuspy (PyPI ``tuspy``, import ``tusclient``) against a real server.

The resume tests run tuspy in separate processes: this module doubles as the child
script (``python -m tests.interop.test_tuspy upload ...``), so the child uses the
same tuspy as the tests and nothing is shared with the test process but files and HTTP.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tusclient.client import TusClient
from tusclient.exceptions import TusUploadFailed
from tusclient.storage.filestorage import FileStorage
from tusclient.uploader import Uploader

from tests.support.server import FilehubServer, assert_stored, bearer, http_get, random_file

REPO_ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


def tus_client(server: FilehubServer, token: str) -> TusClient:
    return TusClient(server.uploads_url, headers=bearer(token))


# --- in-process uploads ------------------------------------------------------------------------


@pytest.mark.slow
def test_chunked_upload_with_metadata(live_server: FilehubServer, token: str, tmp_path: Path) -> None:
    data = random_file(tmp_path / "interview.mp4", 3 * MiB + 12345)  # not a multiple of the chunk
    with (tmp_path / "interview.mp4").open("rb") as stream:  # a stream: tuspy leaks path-opened files
        uploader = tus_client(live_server, token).uploader(
            file_stream=stream, chunk_size=256 * 1024, metadata={"filename": "interview.mp4"}
        )
        offsets = []
        uploader.upload_chunk()  # creates the upload, sends the first chunk
        offsets.append(uploader.offset)
        while uploader.offset < len(data):
            uploader.upload_chunk()
            offsets.append(uploader.offset)
    assert offsets == [min(n * 256 * 1024, len(data)) for n in range(1, len(offsets) + 1)]
    assert uploader.url is not None and uploader.url.startswith(live_server.uploads_url + "/")
    assert uploader.request is not None
    assert uploader.request.response_headers.get("filehub-file-id"), "the last PATCH names the file"
    meta = assert_stored(live_server, token, uploader.url, data, "interview.mp4")
    assert meta["id"] == uploader.request.response_headers["filehub-file-id"]


@pytest.mark.slow
def test_upload_with_sha1_upload_checksum(live_server: FilehubServer, token: str, tmp_path: Path) -> None:
    data = random_file(tmp_path / "statement.pdf", 2 * MiB + 7)
    with (tmp_path / "statement.pdf").open("rb") as stream:
        uploader = tus_client(live_server, token).uploader(
            file_stream=stream,
            chunk_size=512 * 1024,
            metadata={"filename": "statement.pdf"},
            upload_checksum=True,  # tuspy sends "Upload-Checksum: sha1 <base64>" on every PATCH
        )
        uploader.upload()
        assert uploader.request is not None
        sent = uploader.request._request_headers.get("upload-checksum", "")
    assert sent.startswith("sha1 "), f"tuspy did not send a sha1 Upload-Checksum: {sent!r}"
    assert uploader.offset == len(data)
    assert uploader.url is not None
    assert_stored(live_server, token, uploader.url, data, "statement.pdf")


class CorruptingUploader(Uploader):
    """A tuspy uploader whose Upload-Checksum can be made wrong (as if a chunk were damaged)."""

    corrupt = False

    @property
    def checksum_algorithm(self) -> Callable[[bytes], Any]:
        if self.corrupt:
            return lambda chunk: hashlib.sha1(chunk + b"!")
        return hashlib.sha1


@pytest.mark.slow
def test_wrong_upload_checksum_is_refused_and_offset_kept(
    live_server: FilehubServer, token: str, tmp_path: Path
) -> None:
    """tuspy surfaces the 460 of a chunk whose checksum does not match; the offset does not
    move; the same chunk sent again with the right checksum completes the upload."""
    data = random_file(tmp_path / "log.txt", 300 * 1024)
    with (tmp_path / "log.txt").open("rb") as stream:
        uploader = CorruptingUploader(
            file_stream=stream,
            client=tus_client(live_server, token),
            chunk_size=100 * 1024,
            metadata={"filename": "log.txt"},
            upload_checksum=True,
        )
        uploader.upload_chunk()
        assert uploader.offset == 100 * 1024
        uploader.corrupt = True
        with pytest.raises(TusUploadFailed) as failure:
            uploader.upload_chunk()
        assert failure.value.status_code == 460
        assert uploader.get_offset() == 100 * 1024
        uploader.corrupt = False
        uploader.upload()
    assert uploader.offset == len(data)
    assert uploader.url is not None
    assert_stored(live_server, token, uploader.url, data, "log.txt")


@pytest.mark.slow
def test_empty_file_is_a_file_once_created(live_server: FilehubServer, token: str, tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    with (tmp_path / "empty.log").open("rb") as stream:
        uploader = tus_client(live_server, token).uploader(file_stream=stream, metadata={"filename": "empty.log"})
        uploader.upload()  # tuspy sends only the POST for an empty file
    assert uploader.url is not None
    listing = http_get(f"{live_server.url}/api/v1/files", token).json()  # no HEAD or GET of the upload first
    assert [item["size"] for item in listing["items"]] == [0]


# --- resume in new processes across a SIGKILL of the server ------------------------------------


Spawn = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Starts ``python -m tests.interop.test_tuspy ARGS``; kills what is still running at teardown."""
    children: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.interop.test_tuspy", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        for pipe in (child.stdout, child.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def _line_reader(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The lines of ``process``'s stdout, read by a thread (so waiting can be bounded); None at EOF."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.slow
def test_resume_in_new_process_after_server_sigkill(
    live_server: FilehubServer, token: str, tmp_path: Path, spawn: Spawn
) -> None:
    size, chunk = 4 * MiB + 999, 64 * 1024
    data = random_file(tmp_path / "cctv.mp4", size)
    urls = tmp_path / "tus-urls.json"  # tuspy's FileStorage: fingerprint -> upload URL
    common = ["--endpoint", live_server.uploads_url, "--token", token, "--file", str(tmp_path / "cctv.mp4"),
              "--urls", str(urls), "--chunk-size", str(chunk)]

    # 1. A first process uploads chunk by chunk, reporting each acknowledged offset.
    first = spawn("upload", *common)
    lines = _line_reader(first)
    acknowledged: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:  # the child closed its stdout: it ended
            break
        acknowledged.append(json.loads(line))
        if acknowledged[-1]["offset"] >= MiB:
            break
    assert acknowledged and acknowledged[-1]["offset"] >= MiB, (
        f"the first uploader did not get 1 MiB acknowledged: {acknowledged[-3:]}\n"
        f"{first.stderr.read() if first.poll() is not None and first.stderr else ''}"
    )

    # 2. While it is still sending, the server dies without warning; then the client dies.
    live_server.kill()
    try:
        first.wait(timeout=5)  # it fails on its next request (connection refused or reset)
    except subprocess.TimeoutExpired:
        first.kill()
        first.wait()
    assert first.stderr is not None
    first_err = first.stderr.read()
    assert first.returncode != 0, "the first uploader cannot have finished: the server was killed"
    last_acked = acknowledged[-1]["offset"]
    upload_url = acknowledged[-1]["url"]
    assert last_acked < size, first_err

    # 3. Same port, same data; a brand-new process resumes from the URL tuspy stored.
    live_server.start()
    second = spawn("upload", *common)
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, f"resume failed ({second.returncode}):\n{err}"
    events = _events(out.splitlines())
    assert events[0]["event"] == "resumed", events[:2]
    assert events[0]["url"] == upload_url, "tuspy's URL storage should have given the same upload"
    resumed_at = events[0]["offset"]
    print(f"last acknowledged {last_acked}, resumed at {resumed_at}; first uploader: {first_err.strip().splitlines()[-1:]}")
    assert last_acked <= resumed_at < size, (last_acked, resumed_at)
    assert events[-1]["offset"] == size
    assert events[-1]["url"] == upload_url
    assert_stored(live_server, token, upload_url, data, "cctv.mp4")


@pytest.mark.slow
def test_resume_in_new_process_with_explicit_url(
    live_server: FilehubServer, token: str, tmp_path: Path, spawn: Spawn
) -> None:
    """A process that stops itself part way; another resumes with ``url=`` after a restart."""
    size = 2 * MiB + 1
    data = random_file(tmp_path / "bodycam.mov", size)
    common = ["--endpoint", live_server.uploads_url, "--token", token, "--file", str(tmp_path / "bodycam.mov"),
              "--chunk-size", str(128 * 1024)]
    first = spawn("upload", *common, "--stop-at", str(MiB))
    out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    events = _events(out.splitlines())
    assert events[-1]["offset"] == MiB
    upload_url = events[-1]["url"]

    live_server.kill()
    live_server.start()
    second = spawn("upload", *common, "--url", upload_url)
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    events = _events(out.splitlines())
    assert events[0] == {"event": "resumed", "url": upload_url, "offset": MiB}
    assert events[-1]["offset"] == size
    assert_stored(live_server, token, upload_url, data, "bodycam.mov")


# --- the child process -------------------------------------------------------------------------


def _child_main(argv: list[str]) -> int:
    """``upload``: upload (or resume) a file with tuspy, printing one JSON line per event.

    Lines: ``{"event": "resumed"|"created", "url", "offset"}`` once, then
    ``{"event": "chunk", "url", "offset"}`` after every acknowledged PATCH.
    """
    parser = argparse.ArgumentParser(prog="tuspy-child")
    parser.add_argument("command", choices=["upload"])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--chunk-size", type=int, required=True)
    parser.add_argument("--urls", help="tuspy FileStorage for URL storage (store_url=True)")
    parser.add_argument("--url", help="resume this upload URL")
    parser.add_argument("--stop-at", type=int, help="stop (exit 0) once this offset is acknowledged")
    args = parser.parse_args(argv)

    def say(event: str, url: str | None, offset: int) -> None:
        print(json.dumps({"event": event, "url": url, "offset": offset}), flush=True)

    client = TusClient(args.endpoint, headers=bearer(args.token))
    storage = FileStorage(args.urls) if args.urls else None
    uploader = client.uploader(
        file_path=args.file,
        url=args.url,
        chunk_size=args.chunk_size,
        metadata={"filename": Path(args.file).name},
        store_url=storage is not None,
        url_storage=storage,
    )
    if uploader.url:  # from url= or from the URL storage; tuspy asked the server with HEAD
        say("resumed", uploader.url, uploader.offset)
    else:
        uploader.set_url(uploader.create_url())
        say("created", uploader.url, 0)
    stop_at = args.stop_at or uploader.get_file_size()
    while uploader.offset < stop_at:
        uploader.upload_chunk()
        say("chunk", uploader.url, uploader.offset)
    if storage is not None:
        storage.close()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
