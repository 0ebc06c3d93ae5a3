"""``filehub serve``: run the server."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from aiohttp import web

from filehub.cli.options import config_option, load_settings
from filehub.web.app import create_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@config_option
def serve(host: str, port: int, config_file: Path | None) -> None:
    """Run the filehub server (migrates the database first)."""
    settings = load_settings(config_file)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Access logs carry paths and addresses only, never tokens or bodies.
    web.run_app(create_app(settings), host=host, port=port, print=lambda msg: click.echo(msg, err=True))
