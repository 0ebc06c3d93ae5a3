"""The E2E client commands against a real server: police upload, CPS share a bundle with a
defence firm, defence download (whole, ranged, resumed), a late joiner gets access after
`share sync`, a revoke stops it, uploads survive a SIGKILL, and the server's database and
object store never hold a plaintext byte or a file key."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from filehub.client.api import Api
from filehub.client.config import ClientConfig
from filehub.client.download import unlock_file
from filehub.client.identity import TrustStore
from filehub.crypto.keys import Identity
from tests.support.databases import backend
from tests.support.e2e_client import PASSPHRASE, Directory, Person, kill, write_evidence
from tests.support.objectstores import storage_backend
from tests.support.server import FilehubServer, tus_head

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path, database_url: str, server_env: dict[str, str]) -> Iterator[FilehubServer]:
    with FilehubServer(tmp_path / "server", database_url, **server_env) as running:
        yield running


@pytest.fixture
def people(server: FilehubServer, tmp_path: Path) -> Directory:
    directory = Directory(server, tmp_path)
    orgs = [("Met Police", "police"), ("CPS", "prosecution"), ("Smith Solicitors", "defence")]
    members = [("officer", "Met Police"), ("prosecutor", "CPS"), ("defence", "Smith Solicitors")]
    made = directory.accounts([(f"{kind}-admin", org, kind, "admin") for org, kind in orgs]
                              + [(name, org, "n/a", "member") for name, org in members])
    for (org, kind), admin in zip(orgs, made, strict=False):
        directory.organisation(org, kind, admin)
    for (name, org), person in zip(members, made[len(orgs):], strict=True):
        directory.member(name, org, person=person)
    return directory


def open_case(officer: Person, prosecution_org: str) -> str:
    case = officer.api("POST", "/api/v1/cases", {"reference": "URN-E2E", "title": "R v Doe"}, 201)["id"]
    body = {"relation": "prosecutor", "subject": {"type": "organisation", "id": prosecution_org}}
    officer.api("POST", f"/api/v1/cases/{case}/grants", body, 201)
    return case


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_police_upload_cps_discloses_defence_downloads_late_joiner_syncs_revoke_stops(
    people: Directory, tmp_path: Path
) -> None:
    officer, prosecutor, defence = people["officer"], people["prosecutor"], people["defence"]
    cps, smith = people.roots["CPS"][0], people.roots["Smith Solicitors"][0]
    case = open_case(officer, cps)
    source = tmp_path / "doorbell.mp4"
    data = write_evidence(source, 5 * 65536 + 1234)

    file_id = last_line(officer.cli("upload", str(source), "--case", case, "--exhibit", "JD/1").stdout)
    assert officer.api("GET", f"/api/v1/files/{file_id}")["encrypted"] is True
    officer.cli("share", "--file", file_id, "--with", f"org:{cps}")

    bundle = prosecutor.api("POST", f"/api/v1/cases/{case}/bundles", {"name": "disclosure"}, 201)["id"]
    prosecutor.api("POST", f"/api/v1/bundles/{bundle}/files", {"file_id": file_id}, 204)
    grant = last_line(prosecutor.cli("share", "--bundle", bundle, "--with", f"org:{smith}").stdout)

    whole = tmp_path / "defence-copy.mp4"
    done = defence.cli("download", file_id, "-o", str(whole))
    assert whole.read_bytes() == data
    assert "verified SHA-256" in done.stderr
    seek = tmp_path / "seek.bin"
    defence.cli("download", file_id, "-o", str(seek), "--range", "70000-200000")
    assert seek.read_bytes() == data[70000:200001]
    defence.cli("download", file_id, "-o", str(tmp_path / "tail.bin"), "--range", f"{len(data) - 5}-")
    assert (tmp_path / "tail.bin").read_bytes() == data[-5:]

    # A member who joins the firm later may download (org grant) but holds no key yet.
    late = people.member("late", "Smith Solicitors")
    refused = late.cli("download", file_id, "-o", str(tmp_path / "late.mp4"), ok=False)
    assert refused.exit_code == 1 and "share sync" in refused.output
    synced = prosecutor.cli("share", "sync")
    assert "1 key(s) shared" in synced.stderr
    late.cli("download", file_id, "-o", str(tmp_path / "late.mp4"))
    assert (tmp_path / "late.mp4").read_bytes() == data

    prosecutor.cli("revoke", "--bundle", bundle, "--grant", grant)
    after = defence.cli("download", file_id, "-o", str(tmp_path / "after.mp4"), ok=False)
    assert after.exit_code == 1 and not (tmp_path / "after.mp4").exists()

    file_key = asyncio.run(raw_file_key(officer, file_id))
    header = base64.b64decode(officer.api("GET", f"/api/v1/files/{file_id}/envelope")["header"])
    assert_nowhere_on_server(people.server, [data[:4096], data[-4096:], data[65536 : 65536 + 64]], file_key, header)


def test_an_uncertified_key_gets_nothing_and_a_member_cannot_decrypt_without_a_row(
    people: Directory, tmp_path: Path
) -> None:
    officer = people["officer"]
    case = open_case(officer, people.roots["CPS"][0])
    source = tmp_path / "cctv.bin"
    write_evidence(source, 1000)
    file_id = last_line(officer.cli("upload", str(source), "--case", case).stdout)
    pending = people.member("newbie", "CPS", certify=False)
    shared = officer.cli("share", "--file", file_id, "--with", f"user:{pending.user_id}")
    assert "0 recipient key(s)" in shared.stderr and "not certified" in shared.stderr
    refused = pending.cli("download", file_id, "-o", str(tmp_path / "x"), ok=False)
    assert refused.exit_code == 1


async def raw_file_key(person: Person, file_id: str) -> bytes:
    config = ClientConfig.load(person.home)
    identity = Identity.unlock(config.identity_path.read_bytes(), PASSPHRASE)
    async with Api(person.server.url, person.token) as api:
        _, key = await unlock_file(api, identity, TrustStore.load(config), file_id)
    return key


def assert_nowhere_on_server(server: FilehubServer, plaintexts: list[bytes], file_key: bytes, header: bytes) -> None:
    secrets = [*plaintexts, file_key, file_key.hex().encode(), base64.b64encode(file_key)]
    blobs = list(stored_blobs(server))
    everything = b"".join(blob for _, blob in blobs)
    assert header in everything or header.hex().encode() in everything  # the scan does see the database
    for name, blob in blobs:
        for secret in secrets:
            assert secret not in blob, f"{name} holds a secret"
            assert secret.hex().encode() not in blob, f"{name} holds a secret (hex)"


def stored_blobs(server: FilehubServer) -> Iterator[tuple[str, bytes]]:
    """Every byte the server stored: the database (its files, or every table's values) and
    the object store (its folder, or every object under the server's prefix)."""
    url = server.env["FILEHUB_DATABASE_URL"]
    if backend() == "postgresql":
        yield "postgresql", asyncio.run(dump_postgres(url))
    else:
        database = Path(url.removeprefix("sqlite+aiosqlite:///"))
        yield from ((str(p), p.read_bytes()) for p in database.parent.glob(database.name + "*"))
    for path in sorted(p for p in server.base.rglob("*") if p.is_file() and p.name != "server.log"):
        yield str(path), path.read_bytes()
    if storage_backend() == "s3":
        yield from s3_objects(server.env)


async def dump_postgres(url: str) -> bytes:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        rows = []
        for table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{table["tablename"]}"'):
                for value in row.values():
                    rows.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
        return b"\n".join(rows)
    finally:
        await conn.close()


def s3_objects(env: dict[str, str]) -> Iterator[tuple[str, bytes]]:
    import boto3

    bucket, _, prefix = env["FILEHUB_STORAGE_URL"].removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", endpoint_url=env["FILEHUB_S3_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()


def test_upload_killed_mid_way_resumes_and_a_changed_source_starts_over(people: Directory, tmp_path: Path) -> None:
    officer = people["officer"]
    case = open_case(officer, people.roots["CPS"][0])
    source = tmp_path / "interview.mp4"
    data = write_evidence(source, 12 << 20)
    process = officer.spawn("upload", str(source), "--case", case, "--max-rate", "2M")
    state = wait_for_state(officer.home, process)
    deadline = time.monotonic() + 30
    while int(tus_head(state["upload_url"], officer.token).headers["Upload-Offset"]) < (2 << 20):
        assert process.poll() is None and time.monotonic() < deadline, officer.spawned_log()
        time.sleep(0.1)
    kill(process)
    held = int(tus_head(state["upload_url"], officer.token).headers["Upload-Offset"])
    assert 0 < held < len(data)

    resumed = officer.cli("upload", str(source), "--case", case)
    assert last_line(resumed.stdout) == state["file_id"]
    assert "resumed at byte" in resumed.stderr
    copy = tmp_path / "copy.mp4"
    officer.cli("download", state["file_id"], "-o", str(copy))
    assert copy.read_bytes() == data

    # killed again, then the file changes: a new upload with a new key, never the old one
    process = officer.spawn("upload", str(source), "--case", case, "--max-rate", "2M")
    first = wait_for_state(officer.home, process)
    time.sleep(1.0)
    kill(process)
    source.write_bytes(data[::-1])
    fresh = last_line(officer.cli("upload", str(source), "--case", case).stdout)
    assert fresh != first["file_id"]
    officer.cli("download", fresh, "-o", str(copy))
    assert copy.read_bytes() == data[::-1]


def wait_for_state(home: Path, process, timeout: float = 30) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list((home / "uploads").glob("*.json"))
        if found:
            return json.loads(found[0].read_text())
        assert process.poll() is None, (home / "spawned.log").read_text()
        time.sleep(0.05)
    raise AssertionError("the upload wrote no state file")


def test_download_killed_mid_way_resumes_from_the_partial_file(people: Directory, tmp_path: Path) -> None:
    officer = people["officer"]
    case = open_case(officer, people.roots["CPS"][0])
    source = tmp_path / "bodycam.mp4"
    data = write_evidence(source, 8 << 20)
    file_id = last_line(officer.cli("upload", str(source), "--case", case).stdout)
    out = tmp_path / "out.mp4"
    partial = tmp_path / "out.mp4.filehub-partial"
    process = officer.spawn("download", file_id, "-o", str(out), "--max-rate", "2M")
    deadline = time.monotonic() + 30
    while not partial.exists() or partial.stat().st_size < (1 << 20):
        assert process.poll() is None and time.monotonic() < deadline, officer.spawned_log()
        time.sleep(0.05)
    kill(process)
    kept = partial.stat().st_size
    assert 0 < kept < len(data) and not out.exists()
    assert data.startswith(partial.read_bytes())  # only authenticated plaintext was written
    resumed = officer.cli("download", file_id, "-o", str(out))
    assert "resumed at byte" in resumed.stderr and "verified SHA-256" in resumed.stderr
    assert out.read_bytes() == data and not partial.exists()


async def test_upload_and_download_ride_out_a_dropped_link(people: Directory, tmp_path: Path) -> None:
    """The connection is cut mid-transfer and comes back: one run of each command finishes."""
    from tests.support.tcpproxy import TcpProxy

    officer = people["officer"]
    case = await asyncio.to_thread(open_case, officer, people.roots["CPS"][0])
    proxy = await TcpProxy("127.0.0.1", people.server.port).start()
    await asyncio.to_thread(officer.cli, "login", "--url", f"http://127.0.0.1:{proxy.port}", "--token", officer.token)
    source = tmp_path / "drop.mp4"
    data = write_evidence(source, 6 << 20)

    async def cut_while(command: asyncio.Future) -> None:
        await asyncio.sleep(1.0)
        assert not command.done()
        await proxy.cut()
        await asyncio.sleep(1.0)
        await proxy.restore()

    try:
        upload = asyncio.ensure_future(asyncio.to_thread(officer.cli, "upload", str(source), "--case", case,
                                                         "--max-rate", "2M"))
        await cut_while(upload)
        file_id = last_line((await upload).stdout)
        out = tmp_path / "drop-copy.mp4"
        download = asyncio.ensure_future(asyncio.to_thread(officer.cli, "download", file_id, "-o", str(out),
                                                           "--max-rate", "2M"))
        await cut_while(download)
        assert "verified SHA-256" in (await download).stderr
        assert out.read_bytes() == data
    finally:
        await proxy.cut()
