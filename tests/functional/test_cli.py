"""The admin commands of the runtime contract, against a real database."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from filehub.cli.main import cli


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"FILEHUB_DATABASE_URL": database_url, "FILEHUB_DATA_DIR": str(tmp_path / "data")}


async def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    # The commands run their own event loop, so they get a thread of their own here.
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env, input=input)


async def test_create_org_user_token_and_use_it(env: dict[str, str], aiohttp_client, make_settings) -> None:
    assert (await run(env, "admin", "create-org", "Kent Police", "--kind", "police")).exit_code == 0
    created = await run(env, "admin", "create-user", "PC.Smith@kent.example", "--org", "Kent Police", "--role", "admin")
    assert created.exit_code == 0, created.output
    result = await run(env, "admin", "create-token", "pc.smith@kent.example", "--expires", "2h")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert re.fullmatch(r"fh_[A-Za-z0-9_-]{43}", token), result.stdout  # only the token on stdout

    from filehub.web.app import create_app

    client = await aiohttp_client(create_app(make_settings(database_url=env["FILEHUB_DATABASE_URL"])))
    assert (await client.get("/api/v1/files", headers={"Authorization": f"Bearer {token}"})).status == 200
    revoked = await run(env, "admin", "revoke-token", input=token + "\n")
    assert revoked.exit_code == 0, revoked.output
    assert (await client.get("/api/v1/files", headers={"Authorization": f"Bearer {token}"})).status == 401


async def test_admin_errors_are_clear(env: dict[str, str]) -> None:
    assert (await run(env, "admin", "create-org", "CPS", "--kind", "prosecution")).exit_code == 0
    duplicate = await run(env, "admin", "create-org", "CPS", "--kind", "prosecution")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    assert (await run(env, "admin", "create-org", "X", "--kind", "pirates")).exit_code == 2
    missing_org = await run(env, "admin", "create-user", "a@b.example", "--org", "Nowhere")
    assert missing_org.exit_code == 1 and "no organisation" in missing_org.output
    no_user = await run(env, "admin", "create-token", "ghost@b.example")
    assert no_user.exit_code == 1 and "no active user" in no_user.output
    bad_expiry = await run(env, "admin", "create-token", "ghost@b.example", "--expires", "soon")
    assert bad_expiry.exit_code == 2


async def test_admin_batch_runs_many_commands_in_one_process(env: dict[str, str]) -> None:
    commands = [["create-org", "Lab", "--kind", "police"], ["create-user", "a@lab.example", "--org", "Lab"],
                ["create-token", "a@lab.example"]]
    done = await run(env, "admin", "batch", input=json.dumps(commands))
    assert done.exit_code == 0, done.output
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed[:2] == ["", ""] and re.fullmatch(r"fh_[A-Za-z0-9_-]{43}", printed[2])
    for bad in ("not json", json.dumps([["batch"]]), json.dumps([[1]]), json.dumps({"create-org": []})):
        refused = await run(env, "admin", "batch", input=bad)
        assert refused.exit_code == 2 and "COMMANDS" in refused.output, bad
