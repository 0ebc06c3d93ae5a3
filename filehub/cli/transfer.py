"""``filehub upload`` and ``filehub download``: end-to-end encrypted, resumable transfers.

``upload`` prints only the new file's id on stdout (for scripts); progress and notes go to
stderr. Run the same command again after an interruption and it goes on where the server is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from filehub.cli.client_common import run
from filehub.client.api import Api
from filehub.client.config import ClientConfig
from filehub.client.download import Downloader
from filehub.client.identity import TrustStore, unlock_identity
from filehub.client.keys import my_certified_key
from filehub.client.upload import Uploader

RATE = re.compile(r"(\d+(?:\.\d+)?)([KMG]?)", re.IGNORECASE)
RANGE = re.compile(r"(\d+)-(\d*)")


def parse_rate(text: str | None) -> float | None:
    if not text:
        return None
    match = RATE.fullmatch(text.strip())
    if not match:
        raise click.BadParameter("a rate is bytes per second, e.g. 500K, 20M", param_hint="--max-rate")
    return float(match[1]) * 1024 ** " KMG".index(match[2].upper() or " ")


@contextmanager
def progress_bar(description: str) -> Iterator[callable]:
    console = Console(stderr=True)
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                  disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--case", "case_id", required=True, help="The case the exhibit belongs to.")
@click.option("--exhibit", help="Exhibit reference (sent to the server, and sealed in the header).")
@click.option("--media-type", help="e.g. video/mp4 (else guessed from the name); sealed in the header.")
@click.option("--max-rate", help="Limit the upload speed, e.g. 20M (bytes per second).")
def upload(file: Path, case_id: str, exhibit: str | None, media_type: str | None, max_rate: str | None) -> None:
    """Encrypt FILE on this machine and upload it into a case (resumable: run it again)."""
    rate = parse_rate(max_rate)

    async def work(config: ClientConfig, api: Api):
        identity = unlock_identity(config)
        me = await my_certified_key(api, TrustStore.load(config), identity)
        with progress_bar(file.name) as update:
            uploader = Uploader(api, config, identity, me, on_progress=update, max_rate=rate)
            return await uploader.upload(file, case=case_id, exhibit=exhibit, media_type=media_type)

    result = run(work)
    if result.resumed_from:
        click.echo(f"resumed at byte {result.resumed_from}", err=True)
    click.echo(f"sha256 {result.plaintext_sha256}", err=True)
    click.echo(result.file_id)


@click.command()
@click.argument("file_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the decrypted file (a partial download is kept next to it).")
@click.option("--range", "byte_range", help="Plaintext bytes START-END (END inclusive, may be left out).")
@click.option("--max-rate", help="Limit the download speed, e.g. 20M (bytes per second).")
def download(file_id: str, output: Path, byte_range: str | None, max_rate: str | None) -> None:
    """Download FILE_ID, verify and decrypt it (resumable: run it again)."""
    start, stop, rate = 0, None, parse_rate(max_rate)
    if byte_range:
        match = RANGE.fullmatch(byte_range.strip())
        if not match or (match[2] and int(match[2]) < int(match[1])):
            raise click.BadParameter("a range is START-END or START-", param_hint="--range")
        start, stop = int(match[1]), int(match[2]) + 1 if match[2] else None

    async def work(config: ClientConfig, api: Api):
        identity = unlock_identity(config)
        with progress_bar(file_id[:12]) as update:
            downloader = Downloader(api, config, identity, TrustStore.load(config), on_progress=update,
                                    max_rate=rate)
            return await downloader.download(file_id, output, start, stop)

    result = run(work)
    if result.resumed_from > result.start:
        click.echo(f"resumed at byte {result.resumed_from}", err=True)
    what = "verified SHA-256 of the whole file" if result.whole_file_verified else "authenticated range"
    click.echo(f"{result.path}: bytes {result.start}-{result.stop} of {result.name!r} ({result.media_type}); {what}",
               err=True)
