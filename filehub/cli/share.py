"""``filehub share``, ``filehub share sync`` and ``filehub revoke``."""

from __future__ import annotations

import click

from filehub.cli.client_common import run
from filehub.client import ClientError
from filehub.client import share as sharing
from filehub.client.api import Api
from filehub.client.config import ClientConfig
from filehub.client.identity import TrustStore, unlock_identity


def report(result: sharing.ShareReport) -> None:
    if result.grant_id:
        click.echo(f"grant {result.grant_id}", err=True)
    click.echo(f"{result.files} file(s), {result.recipients} recipient key(s): {result.added} key(s) shared, "
               f"{result.skipped} already held", err=True)
    for problem in result.problems:
        click.echo(f"warning: {problem}", err=True)
    if result.grant_id:
        click.echo(result.grant_id)


@click.group(invoke_without_command=True)
@click.option("--file", "file_id", help="One file (already reachable by the recipient through a grant).")
@click.option("--bundle", "bundle_id", help="A bundle: grants it, then shares the keys of its files.")
@click.option("--with", "subject", help="user:ID or org:ID.")
@click.option("--relation", type=click.Choice(["defence", "viewer", "downloader"]), default="defence",
              show_default=True, help="The bundle grant's relation.")
@click.pass_context
def share(ctx: click.Context, file_id: str | None, bundle_id: str | None, subject: str | None,
          relation: str) -> None:
    """Share a file or a bundle: a grant, and the file keys sealed to the recipients' certified keys."""
    if ctx.invoked_subcommand is not None:
        return
    if (file_id is None) == (bundle_id is None) or not subject:
        raise click.UsageError("give one of --file or --bundle, and --with user:ID|org:ID")

    async def work(config: ClientConfig, api: Api) -> sharing.ShareReport:
        identity = unlock_identity(config)
        return await sharing.share(api, identity, TrustStore.load(config), subject=subject, relation=relation,
                                   file_id=file_id, bundle_id=bundle_id)

    report(run(work))


@share.command("sync")
def sync() -> None:
    """Fulfil pending key requests (members who joined or got a key later) for files you hold."""

    async def work(config: ClientConfig, api: Api) -> sharing.ShareReport:
        return await sharing.sync(api, unlock_identity(config), TrustStore.load(config))

    report(run(work))


@click.command()
@click.option("--bundle", "bundle_id", help="The bundle the grant is on.")
@click.option("--case", "case_id", help="The case the grant is on.")
@click.option("--grant", "grant_id", help="The grant's id.")
@click.option("--with", "subject", help="Or every grant to user:ID or org:ID.")
def revoke(bundle_id: str | None, case_id: str | None, grant_id: str | None, subject: str | None) -> None:
    """Revoke a grant: the server stops serving bytes and keys at once (downloaded copies stay)."""
    if (bundle_id is None) == (case_id is None) or (grant_id is None) == (subject is None):
        raise click.UsageError("give one of --bundle or --case, and one of --grant or --with")
    kind, object_id = ("bundles", bundle_id) if bundle_id else ("cases", case_id)

    async def work(config: ClientConfig, api: Api) -> list[str]:
        if object_id is None:
            raise ClientError("no object")
        return await sharing.revoke(api, kind=kind, object_id=object_id, grant_id=grant_id, subject=subject)

    for one in run(work):
        click.echo(f"revoked {one}")
