"""``filehub audit verify``, ``export`` and ``verify-export`` against a live server."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from aiohttp.test_utils import TestClient
from click.testing import CliRunner, Result

from filehub.audit.checkpoint import ALG_COSIGNATURE_V1, Checkpoint, SignerKey, cosign_checkpoint, open_checkpoint
from filehub.cli.audit import audit
from filehub.settings import Settings
from filehub.web import keys
from filehub.web.app import create_app
from tests.functional.test_audit_log import sign, superuser
from tests.support.server import FilehubServer, run_admin_sequence
from tests.support.world import World, build


async def run(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, audit, list(args))


async def test_verify_export_and_verify_export(client: TestClient, tmp_path: Path) -> None:
    world: World = await build(client, file_size=64)
    await world["custodian"].call("GET", f"/api/v1/files/{world.ids['f1']}")
    await sign(client)
    url = str(client.make_url("/")).rstrip("/")
    token = (world["auditor"].authorization or "").split(" ", 1)[1]
    log_key = str(client.app[keys.LOG_KEY].verifier_key)
    state = tmp_path / "state.json"
    server = ["--url", url, "--token", token]

    first = await run("verify", *server, "--log-key", log_key, "--state", str(state))
    assert first.exit_code == 0, first.output
    assert "VERDICT: the audit log verifies" in first.output
    assert json.loads(state.read_text())["log_key"] == log_key

    custody = tmp_path / "custody.json"
    exported = await run("export", *server, world.ids["f1"], "-o", str(custody))
    assert exported.exit_code == 0, exported.output
    bundle = json.loads(custody.read_text())
    assert bundle["sha256"] and {json.loads(base64.b64decode(e["entry"]))["action"] for e in bundle["events"]} >= {
        "upload.completed", "file.viewed"}
    checked = await run("verify-export", str(custody), "--log-key", log_key)
    assert checked.exit_code == 0, checked.output
    assert "VERDICT" in checked.output and "file.viewed" in checked.output

    entry = json.loads(base64.b64decode(bundle["events"][0]["entry"]))
    entry["actor"]["user"] = "someone-else"
    bundle["events"][0]["entry"] = base64.b64encode(json.dumps(entry).encode()).decode()
    custody.write_text(json.dumps(bundle))
    forged = await run("verify-export", str(custody), "--log-key", log_key)
    assert forged.exit_code == 1 and "PROBLEM" in forged.output

    await superuser(client, "DELETE FROM audit_events WHERE seq = 3")
    second = await run("verify", *server, "--state", str(state))
    assert second.exit_code == 1
    assert "does NOT verify" in second.output


async def test_a_witness_cosigns_consistent_checkpoints_only(
    aiohttp_client: Any, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    witness_key = SignerKey.generate("cps.example/witness", ALG_COSIGNATURE_V1)
    client = await aiohttp_client(create_app(make_settings(audit_witness_keys=[str(witness_key.verifier_key)])))
    world = await build(client, file_size=16)
    await sign(client)
    log_key = client.app[keys.LOG_KEY].verifier_key
    url = str(client.make_url("/")).rstrip("/")
    state = tmp_path / "witness.json"
    args = ["witness", "--url", url, "--token", (world["auditor"].authorization or "").split(" ", 1)[1],
            "--log-key", str(log_key), "--witness-key", witness_key.to_private_string(), "--state", str(state)]

    first = await run(*args)
    assert first.exit_code == 0, first.output
    # The checkpoint the witness cosigned, served with its cosignature from then on (not the
    # latest one: the background checkpointer may have signed a newer one since).
    size = Checkpoint.parse(json.loads(state.read_text())["checkpoint"]).size
    page = await world["auditor"].call("GET", f"/api/v1/audit/checkpoints?after={size - 1}&limit=1")
    assert page["items"][0]["size"] == size
    served = page["items"][0]["note"].encode()
    cosigned = open_checkpoint(served, log_key, [witness_key.verifier_key], min_cosignatures=1)
    assert len(cosigned.cosignatures) == 1

    await world["custodian"].call("GET", f"/api/v1/files/{world.ids['f1']}")
    await sign(client)
    assert (await run(*args)).exit_code == 0  # grew consistently: cosigned again

    seen = Checkpoint.parse(json.loads(state.read_text())["checkpoint"])
    state.write_text(json.dumps({"checkpoint": Checkpoint(seen.origin, seen.size, bytes(32)).text()}))
    forked = await run(*args)  # what the witness saw before is not in this log's history
    assert forked.exit_code == 1 and "not cosigned" in forked.output

    stranger = SignerKey.generate("someone.example/witness", ALG_COSIGNATURE_V1)
    line = cosign_checkpoint(served, stranger, 1).line()
    refused = await world["auditor"].request("POST", "/api/v1/audit/cosignatures",
                                             json={"size": cosigned.checkpoint.size, "signature": line})
    assert refused.status == 400


def test_verify_requires_cosignatures_from_the_given_witnesses(
    tmp_path: Path, database_url: str, server_env: dict[str, str]
) -> None:
    """Over HTTP against a real `filehub serve`: the verdict fails until enough of the
    auditor's trusted witnesses have cosigned this history; other witnesses do not count."""
    cps, court, other = (SignerKey.generate(f"{n}.example/witness", ALG_COSIGNATURE_V1) for n in ("cps", "court", "other"))
    configured = json.dumps([str(w.verifier_key) for w in (cps, court, other)])
    with FilehubServer(tmp_path / "server", database_url, **server_env, FILEHUB_AUDIT_WITNESS_KEYS=configured) as server:
        token = run_admin_sequence(server.env, ["create-org", "Audit Office", "--kind", "audit"],
                                   ["create-user", "auditor@audit.example", "--org", "Audit Office", "--role", "auditor"],
                                   ["create-token", "auditor@audit.example"])
        log_key = requests.get(f"{server.url}/api/v1/audit/key", timeout=10).json()["verifier_key"]
        common = ["--url", server.url, "--token", token, "--log-key", log_key]
        wait_for_checkpoint(server.url, token)

        def verify(*witnesses: SignerKey, need: int | None = None) -> Result:
            args = [a for w in witnesses for a in ("--witness", str(w.verifier_key))]
            args += [] if need is None else ["--min-witnesses", str(need)]
            return CliRunner().invoke(audit, ["verify", *common, "--state", str(tmp_path / "v.json"), *args])

        def cosign(witness: SignerKey) -> None:
            done = CliRunner().invoke(audit, ["witness", *common, "--witness-key", witness.to_private_string(),
                                              "--state", str(tmp_path / f"{witness.name.split('.')[0]}.json")])
            assert done.exit_code == 0, done.output

        unwitnessed = verify(cps)
        assert unwitnessed.exit_code == 1 and "does NOT verify" in unwitnessed.output
        assert "only 0 of the trusted witnesses" in unwitnessed.output
        assert verify().exit_code == 0  # no witness policy asked for
        cosign(cps)
        cosign(other)
        one = verify(cps)
        assert one.exit_code == 0, one.output
        assert "witnessed by at least 1 of 1 witnesses up to size" in one.output
        two = verify(cps, court, need=2)
        assert two.exit_code == 1 and "only 1 of the trusted witnesses" in two.output  # `other` is not trusted here
        cosign(court)
        both = verify(cps, court, need=2)
        assert both.exit_code == 0, both.output
        assert "witness court.example/witness: cosigned this history up to size" in both.output
        too_many = verify(cps, need=2)
        assert too_many.exit_code == 2 and "--min-witnesses" in too_many.output


def wait_for_checkpoint(url: str, token: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = requests.get(f"{url}/api/v1/audit/checkpoint", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if reply.status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError("no checkpoint was signed")
