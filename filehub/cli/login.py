"""``filehub login``: save the server URL and an API token for the client commands."""

from __future__ import annotations

import asyncio
import os
import sys

import click

from filehub.cli.client_common import guard
from filehub.client import ClientError
from filehub.client.api import Api, ApiError
from filehub.client.config import ClientConfig


@click.command()
@click.option("--url", required=True, help="The server, e.g. https://filehub.example.")
@click.option("--token", "token_option", help="API token (else FILEHUB_TOKEN, else stdin or a hidden prompt).")
def login(url: str, token_option: str | None) -> None:
    """Check a token against the server and save it (0600) in the client config."""
    token = token_option or os.environ.get("FILEHUB_TOKEN")
    if not token:
        token = sys.stdin.readline().strip() if not sys.stdin.isatty() else click.prompt("API token", hide_input=True)
    if not token:
        raise click.ClickException("no token given")

    async def who() -> dict:
        async with Api(url, token) as api:
            return await api.get("/api/v1/me")

    def check() -> dict:
        try:
            return asyncio.run(who())
        except ApiError as exc:
            raise ClientError(f"the server refused the token ({exc.status} {exc.code})") from None

    me = guard(check)
    config = ClientConfig.load()
    config.url, config.token, config.user_id, config.org_id = url.rstrip("/"), token, me["user_id"], me["org_id"]
    config.save()
    click.echo(f"logged in to {config.url} as user {me['user_id']} of organisation {me['org_id']} ({me['role']})")
