"""``filehub admin``: act on the configured database directly (it is migrated first)."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, TypeVar

import click

from filehub.cli.admin_directory import COMMANDS as DIRECTORY_COMMANDS
from filehub.cli.admin_directory import run
from filehub.cli.options import config_option, load_settings
from filehub.services.accounts import ORG_KINDS, ROLES, Accounts
from filehub.settings import parse_duration

T = TypeVar("T")


def _run(config_file: Path | None, action: Callable[[Accounts], Awaitable[T]]) -> T:
    return run(config_file, lambda directory: action(directory.accounts))


@click.group()
def admin() -> None:
    """Administer organisations, users, roles, groups and tokens."""


@admin.command("create-org")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(ORG_KINDS))
@config_option
def create_org(name: str, kind: str, config_file: Path | None) -> None:
    """Create an organisation."""
    org_id = _run(config_file, lambda accounts: accounts.create_org(name, kind))
    click.echo(f"created organisation {name} ({kind}) id={org_id}", err=True)


@admin.command("create-user")
@click.argument("email")
@click.option("--org", "org_name", required=True, help="Name of the user's organisation.")
@click.option("--role", default="member", show_default=True, type=click.Choice(ROLES))
@config_option
def create_user(email: str, org_name: str, role: str, config_file: Path | None) -> None:
    """Create a user in an organisation."""
    user_id = _run(config_file, lambda accounts: accounts.create_user(email, org_name, role))
    click.echo(f"created user {email.lower()} ({role}) id={user_id}", err=True)


@admin.command("create-token")
@click.argument("email")
@click.option("--expires", default=None, help="Lifetime, e.g. 12h, 30d (default from settings).")
@config_option
def create_token(email: str, expires: str | None, config_file: Path | None) -> None:
    """Create an API token; prints only the token, which is never shown again."""
    settings = load_settings(config_file)
    try:
        lifetime = parse_duration(expires) if expires else settings.token_default_expiry
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None
    token, expires_at = _run(config_file, lambda accounts: accounts.create_token(email, lifetime))
    click.echo(token)
    click.echo(f"expires {expires_at.isoformat(timespec='seconds')}", err=True)


@admin.command("revoke-token")
@click.option("--token", "token", prompt=True, hide_input=True, help="The token to revoke (prompted if omitted).")
@config_option
def revoke_token(token: str, config_file: Path | None) -> None:
    """Revoke one token at once."""
    if not _run(config_file, lambda accounts: accounts.revoke_token(token)):
        raise click.ClickException("no such live token")
    click.echo("revoked", err=True)


@admin.command("revoke-tokens")
@click.argument("email")
@config_option
def revoke_tokens(email: str, config_file: Path | None) -> None:
    """Revoke every token of a user at once."""
    count = _run(config_file, lambda accounts: accounts.revoke_user_tokens(email))
    click.echo(f"revoked {count} token(s)", err=True)


# Organisations, users, roles and groups (filehub/cli/admin_directory.py).
for _command in DIRECTORY_COMMANDS:
    admin.add_command(_command)


@admin.command("batch")
@click.argument("commands", type=click.File("r"), default="-")
def batch(commands: IO[str]) -> None:
    """Run many admin commands in one process, e.g. to onboard an agency's users from a
    script: COMMANDS (default stdin) is a JSON list of argument lists, such as
    [["create-user", "a@met.example", "--org", "Met Police"], ["create-token", "a@met.example"]].
    Prints a JSON list of what each command printed on stdout (a token for create-token).
    One process saves the interpreter's start-up, about a second a command."""
    try:
        entries = json.load(commands)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="COMMANDS") from None
    if not isinstance(entries, list) or not all(
        isinstance(e, list) and e and all(isinstance(a, str) for a in e) and e[0] != "batch" for e in entries
    ):
        raise click.BadParameter("a JSON list of argument lists, each naming another admin command",
                                 param_hint="COMMANDS")
    printed = []
    for args in entries:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            admin.main(args, prog_name="filehub admin", standalone_mode=False)
        printed.append(out.getvalue().strip())
    click.echo(json.dumps(printed))
