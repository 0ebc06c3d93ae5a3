"""``filehub keys`` and ``filehub trust``: the user's identity, certification, pinned roots.

Private keys never leave this machine: they rest locked under a passphrase (Argon2id +
secretbox) in the client home; the server gets public keys and certificates only. Roots of
organisations are pinned by hand (``trust add``), never learnt from the server.
"""

from __future__ import annotations

from pathlib import Path

import click
import nacl.pwhash.argon2id as argon2id

from filehub.cli.client_common import guard, run
from filehub.client import ClientError
from filehub.client import keys as api_keys
from filehub.client.api import Api
from filehub.client.config import ClientConfig, b64d, b64e, write_private
from filehub.client.identity import (
    TrustStore,
    fingerprint,
    local_key_id,
    passphrase,
    save_identity,
    unlock_identity,
    unlock_root,
)
from filehub.crypto.keys import Identity, OrgRootKey, key_id

KDF = {  # Argon2id cost of unlocking: "interactive" for slow machines (and tests)
    "moderate": {"opslimit": argon2id.OPSLIMIT_MODERATE, "memlimit": argon2id.MEMLIMIT_MODERATE},
    "interactive": {"opslimit": argon2id.OPSLIMIT_INTERACTIVE, "memlimit": argon2id.MEMLIMIT_INTERACTIVE},
}
kdf_option = click.option("--kdf", type=click.Choice(sorted(KDF)), default="moderate", show_default=True,
                          help="Argon2id cost of the passphrase lock.")


@click.group()
def keys() -> None:
    """Your encryption identity, and certifying members (organisation admins)."""


@keys.command("init")
@kdf_option
@click.option("--force", is_flag=True, help="Replace an existing local identity (files shared with it are lost).")
def init(kdf: str, force: bool) -> None:
    """Generate your identity, lock it under a passphrase and register its public keys."""
    config = ClientConfig.load()
    if config.identity_path.exists() and not force:
        raise click.ClickException(f"an identity exists already ({config.identity_path}); --force replaces it")
    identity = Identity.generate()
    secret = guard(lambda: passphrase("New passphrase for your filehub key", confirm=True))

    async def work(config: ClientConfig, api: Api) -> dict:
        key = await api_keys.register(api, identity)
        save_identity(config, identity, secret, **KDF[kdf])  # only once the server has the public half
        return key

    key = run(work)
    click.echo(f"key id:      {key['key_id']}")
    click.echo(f"fingerprint: {fingerprint(identity.key_id)}")
    click.echo("Ask an administrator of your organisation to certify it; read them the fingerprint.")


@keys.command("show")
def show() -> None:
    """Your key id, fingerprint and certification status."""

    async def work(config: ClientConfig, api: Api) -> tuple[bytes, str]:
        kid = local_key_id(config)
        key = await api.get(f"/api/v1/keys/{kid.hex()}")
        return kid, api_keys.status(TrustStore.load(config), key)

    kid, state = run(work)
    click.echo(f"key id:      {kid.hex()}")
    click.echo(f"fingerprint: {fingerprint(kid)}")
    click.echo(f"status:      {state}")


@keys.command("certify")
@click.argument("target")
@click.option("--root-key", type=click.Path(exists=True, dir_okay=False),
              help="The locked organisation root key (else your own identity, if it may certify).")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True, help="Validity.")
@click.option("--may-certify", is_flag=True, help="Let this key certify other members (administrators).")
@click.option("--yes", is_flag=True, help="Do not ask to confirm the fingerprint.")
def certify(target: str, root_key: str | None, days: int, may_certify: bool, yes: bool) -> None:
    """Certify TARGET (a user id or a key id) for your organisation (admins)."""

    async def work(config: ClientConfig, api: Api) -> list[str]:
        found = await api_keys.keys_to_certify(api, target)
        issuer = unlock_root(root_key) if root_key else unlock_identity(config)
        done = []
        for key in found:
            fp = fingerprint(bytes.fromhex(key["key_id"]))
            if not yes and not click.confirm(f"certify key {fp} of user {key['user_id']}?"):
                continue
            await api_keys.certify_key(api, key, issuer, days=days, may_certify=may_certify)
            done.append(f"certified {key['key_id']} ({fp}) of user {key['user_id']}")
        return done

    for line in run(work):
        click.echo(line)


@keys.command("init-org")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the locked root key (keep it offline).")
@kdf_option
def init_org(out: Path, kdf: str) -> None:
    """Generate your organisation's root key, lock it to a file and publish its public half (admins)."""
    if out.exists():
        raise click.ClickException(f"{out} exists; refusing to overwrite a root key")
    root = OrgRootKey.generate()
    secret = guard(lambda: passphrase("New passphrase for the root key", env="FILEHUB_ROOT_PASSPHRASE", confirm=True))
    write_private(out, root.lock(secret, **KDF[kdf]))

    async def work(config: ClientConfig, api: Api) -> str:
        if not config.org_id:
            raise ClientError("log in again (`filehub login`) so the client knows your organisation")
        await api_keys.publish_root(api, config.org_id, root)
        TrustStore.load(config).add(config.org_id, b64e(root.public_key))  # your own org is pinned too
        return config.org_id

    org_id = run(work)
    click.echo(f"organisation: {org_id}")
    click.echo(f"public key:   {b64e(root.public_key)}")
    click.echo(f"fingerprint:  {fingerprint(root.key_id)}")
    click.echo("Give the public key to your members and partner organisations out of band "
               "(`filehub trust add ORG_ID KEY`), and have them compare the fingerprint.")


@click.group()
def trust() -> None:
    """Organisation root keys you trust (pinned by hand, never learnt from the server)."""


@trust.command("add")
@click.argument("org_id")
@click.argument("public_key")
@click.option("--fingerprint", "expected", help="Refuse unless the key has this fingerprint.")
@click.option("--replace", is_flag=True, help="Replace a different key pinned for this organisation.")
def trust_add(org_id: str, public_key: str, expected: str | None, replace: bool) -> None:
    """Pin PUBLIC_KEY (base64) as the root of ORG_ID."""

    def add() -> bytes:
        store = TrustStore.load(ClientConfig.load())
        if expected is not None:
            actual = fingerprint(key_id(b64d(public_key, "root public key")))
            if actual.replace(" ", "") != expected.replace(" ", "").lower():
                raise ClientError(f"the key's fingerprint is {actual}, not the one you expected")
        return store.add(org_id, public_key, replace=replace)

    kid = guard(add)
    click.echo(f"pinned {org_id}: {fingerprint(kid)}")


@trust.command("list")
def trust_list() -> None:
    """The pinned roots: organisation id, fingerprint, key."""
    store = guard(lambda: TrustStore.load(ClientConfig.load()))
    for org_id, public_key in sorted(store.pins.items()):
        click.echo(f"{org_id}\t{fingerprint(key_id(store.root(org_id)))}\t{public_key}")
