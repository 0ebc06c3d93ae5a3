"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from filehub.settings import Settings

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="FILEHUB_CONFIG",
    help="TOML settings file (FILEHUB_* environment variables override it).",
)


def load_settings(config_file: Path | None) -> Settings:
    try:
        return Settings.load(config_file)
    except (ValidationError, ValueError) as exc:
        raise click.ClickException(f"invalid settings: {exc}") from None
