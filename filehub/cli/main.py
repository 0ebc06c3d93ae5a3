"""The ``filehub`` command."""

from __future__ import annotations

import click

from filehub.cli.admin import admin
from filehub.cli.audit import audit
from filehub.cli.serve import serve


@click.group()
@click.version_option(package_name="filehub")
def cli() -> None:
    """filehub: secure, resumable sharing of large evidence files."""


cli.add_command(serve)
cli.add_command(admin)
cli.add_command(audit)
