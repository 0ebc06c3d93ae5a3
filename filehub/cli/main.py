"""The ``filehub`` command."""

from __future__ import annotations

import click

from filehub.cli.admin import admin
from filehub.cli.audit import audit
from filehub.cli.keys import keys, trust
from filehub.cli.login import login
from filehub.cli.serve import serve
from filehub.cli.share import revoke, share
from filehub.cli.transfer import download, upload


@click.group()
@click.version_option(package_name="filehub")
def cli() -> None:
    """filehub: secure, resumable sharing of large evidence files."""


cli.add_command(serve)
cli.add_command(admin)
cli.add_command(audit)
for command in (login, keys, trust, upload, download, share, revoke):
    cli.add_command(command)
