"""``filehub audit``: verify the whole log, export and check one exhibit's chain of custody.

These commands trust nothing the server says about itself: the log key comes from the
operator out of band (``--log-key``), and every checkpoint, leaf and proof is checked with
the pure cores (``filehub.audit.merkle``, ``checkpoint``, ``verify``). See docs/audit.md §8.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from filehub.audit import VerificationError
from filehub.audit.checkpoint import (
    Checkpoint,
    SignerKey,
    VerifierKey,
    cosign_checkpoint,
    open_checkpoint,
    verify_checkpoint_consistency,
)
from filehub.audit.merkle import leaf_hash, verify_inclusion
from filehub.audit.verify import verify_log

EXPORT_FORMAT = "filehub-custody/v1"


class Server:
    def __init__(self, url: str, token: str | None) -> None:
        self.url, self.token = url.rstrip("/"), token

    def get(self, path: str, **query: Any) -> Any:
        params = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        request = urllib.request.Request(f"{self.url}{path}{'?' + params if params else ''}")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - an https URL given by the user
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise click.ClickException(f"GET {path}: HTTP {exc.code} {exc.read()[:200].decode(errors='replace')}") from None
        except urllib.error.URLError as exc:
            raise click.ClickException(f"cannot reach {self.url}: {exc.reason}") from None

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise click.ClickException(f"POST {path}: HTTP {exc.code} {exc.read()[:200].decode(errors='replace')}") from None

    def pages(self, path: str, limit: int, **query: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            page = self.get(path, limit=limit, after=after, **query)
            found += page["items"]
            after = page["next"]
            if after is None:
                return found


def _key(text: str, option: str = "--log-key") -> VerifierKey:
    try:
        return VerifierKey.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


server_options = [
    click.option("--url", envvar="FILEHUB_URL", required=True, help="Base URL of the filehub server."),
    click.option("--token", envvar="FILEHUB_TOKEN", required=True, help="An auditor's API token."),
]


def _with_server(function: Any) -> Any:
    for option in reversed(server_options):
        function = option(function)
    return function


@click.group()
def audit() -> None:
    """Verify the tamper-evident audit log (auditors)."""


@audit.command()
@_with_server
@click.option("--log-key", help="The log's verifier key, obtained out of band (else the one kept in --state).")
@click.option("--state", type=click.Path(path_type=Path, dir_okay=False), default=Path("filehub-audit-state.json"),
              show_default=True, help="Where the largest verified checkpoint is kept between runs.")
@click.option("--witness", "witness_keys", multiple=True,
              help="A trusted witness's verifier key, obtained out of band (repeatable).")
@click.option("--min-witnesses", type=click.IntRange(min=0),
              help="How many of the --witness keys must have cosigned this history [default: 1 with --witness].")
def verify(url: str, token: str, log_key: str | None, state: Path, witness_keys: tuple[str, ...],
           min_witnesses: int | None) -> None:
    """Fetch the whole log, recompute the tree, check every checkpoint and its consistency
    with the checkpoint verified last time, and the witness policy. Exit status 1 if
    anything does not verify."""
    witnesses = [_key(k, "--witness") for k in witness_keys]
    required = (1 if witnesses else 0) if min_witnesses is None else min_witnesses
    if required > len(set(map(str, witnesses))):
        raise click.BadParameter(f"{required} cosignatures required but only {len(witnesses)} witness keys given",
                                 param_hint="--min-witnesses")
    kept = json.loads(state.read_text()) if state.exists() else {}
    trusted = log_key or kept.get("log_key")
    server = Server(url, token)
    served = server.get("/api/v1/audit/key")["verifier_key"]
    if trusted is None:
        click.echo(f"warning: trusting the key the server serves ({served}); pass --log-key next time", err=True)
        trusted = served
    key = _key(trusted)
    previous = Checkpoint.parse(kept["checkpoint"]) if kept.get("checkpoint") else None
    notes = [c["note"].encode() for c in server.pages("/api/v1/audit/checkpoints", 1000)]
    # Leaves and entries in parallel: the server works on one page while this side decodes
    # another. Checkpoints come first so every leaf they cover is fetched; entries past the
    # fetched leaves are simply not checked this time.
    with ThreadPoolExecutor(max_workers=2) as pool:
        leaf_pages = pool.submit(server.pages, "/api/v1/audit/leaves", 10000)
        entries = {x["seq"]: base64.b64decode(x["entry"]) for x in server.pages("/api/v1/audit/events", 10000)}
        leaves = [(x["seq"], base64.b64decode(x["leaf_hash"])) for x in leaf_pages.result()]
    report = verify_log(leaves, entries, notes, key, previous, witnesses, required)
    if served != str(key):
        report.problems.append(f"the server serves another log key: {served}")
    click.echo(f"log size {report.size}; {report.checked_checkpoints} checkpoints and "
               f"{report.checked_entries} of your organisation's entries checked")
    if previous is not None:
        click.echo(f"consistent with the checkpoint of size {previous.size} verified before: "
                   f"{'no' if report.problems else 'yes'}")
    for witness in witnesses:
        size = report.witnessed.get(str(witness))
        click.echo(f"witness {witness.name}: " + (f"cosigned this history up to size {size}" if size else "no cosignature"))
    if report.witnessed_size is not None:
        click.echo(f"witnessed by at least {required} of {len(witnesses)} witnesses up to size {report.witnessed_size} "
                   f"({report.size - report.witnessed_size} later events not witnessed yet)")
    if not report.ok:
        for problem in report.problems:
            click.echo(f"PROBLEM: {problem}", err=True)
        click.echo("VERDICT: the audit log does NOT verify")
        raise SystemExit(1)
    if report.largest is not None:
        state.write_text(json.dumps({"log_key": str(key), "checkpoint": report.largest.text()}, indent=2) + "\n")
    click.echo("VERDICT: the audit log verifies")


@audit.command()
@_with_server
@click.argument("file_id")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
def export(url: str, token: str, file_id: str, output: Path) -> None:
    """Write FILE_ID's chain of custody: its events, their inclusion proofs, a signed
    checkpoint and the file's SHA-256, checkable offline with verify-export."""
    server = Server(url, token)
    checkpoint = server.get("/api/v1/audit/checkpoint")
    size = checkpoint["size"]
    events = [e for e in server.pages("/api/v1/audit/events", 1000, object=f"file:{file_id}") if e["seq"] < size]
    if not events:
        raise click.ClickException("no events about this file in the latest checkpoint (or not yours to read)")
    for event in events:
        event["proof"] = server.get("/api/v1/audit/proofs/inclusion", seq=event["seq"], size=size)["proof"]
    sha256 = None
    for event in events:
        body = json.loads(base64.b64decode(event["entry"]))
        if body["action"] == "upload.completed":
            sha256 = body["details"].get("sha256")
    bundle = {"format": EXPORT_FORMAT, "file_id": file_id, "sha256": sha256, "checkpoint": checkpoint["note"],
              "log_key": server.get("/api/v1/audit/key")["verifier_key"], "events": events}
    output.write_text(json.dumps(bundle, indent=2) + "\n")
    click.echo(f"wrote {len(events)} events of file {file_id} (tree size {size}) to {output}")


@audit.command("verify-export")
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--log-key", required=True, help="The log's verifier key, obtained out of band.")
def verify_export(bundle: Path, log_key: str) -> None:
    """Check a chain-of-custody bundle offline, with no server."""
    data = json.loads(bundle.read_text())
    try:
        if data.get("format") != EXPORT_FORMAT:
            raise VerificationError(f"not a {EXPORT_FORMAT} bundle")
        checkpoint = open_checkpoint(data["checkpoint"].encode(), _key(log_key)).checkpoint
        for event in data["events"]:
            entry = base64.b64decode(event["entry"], validate=True)
            proof = [base64.b64decode(h, validate=True) for h in event["proof"]]
            verify_inclusion(leaf_hash(entry), event["seq"], checkpoint.size, proof, checkpoint.root_hash)
            body = json.loads(entry)
            if body.get("object") != {"type": "file", "id": data["file_id"]}:
                raise VerificationError(f"event {event['seq']} is not about file {data['file_id']}")
            click.echo(f"{event['seq']:>8}  {body['time']}  {body['action']:<18} {body['outcome']:<8} "
                       f"user={body['actor']['user']} org={body['actor']['org']}")
    except (VerificationError, KeyError, ValueError) as exc:
        click.echo(f"PROBLEM: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"file {data['file_id']} sha256 {data.get('sha256')}")
    click.echo(f"VERDICT: {len(data['events'])} events included in the signed tree of size {checkpoint.size}")


@audit.command()
@_with_server
@click.option("--log-key", required=True, help="The log's verifier key, obtained out of band.")
@click.option("--witness-key", envvar="FILEHUB_WITNESS_KEY", required=True,
              help="This witness's signer key (PRIVATE+KEY+…, cosignature/v1 type recommended).")
@click.option("--state", type=click.Path(path_type=Path, dir_okay=False), default=Path("filehub-witness-state.json"),
              show_default=True, help="The largest checkpoint this witness has cosigned.")
def witness(url: str, token: str, log_key: str, witness_key: str, state: Path) -> None:
    """Cosign the log's latest checkpoint after checking it is consistent with the largest
    one this witness cosigned before; the server then serves the cosignature with it."""
    key, signer = _key(log_key), SignerKey.parse(witness_key)
    server = Server(url, token)
    latest = server.get("/api/v1/audit/checkpoint")
    try:
        new = open_checkpoint(latest["note"].encode(), key).checkpoint
        if state.exists():
            old = Checkpoint.parse(json.loads(state.read_text())["checkpoint"])
            if new.size < old.size:
                raise VerificationError(f"the log shows size {new.size}, smaller than {old.size} cosigned before")
            proof = server.get("/api/v1/audit/proofs/consistency", old=old.size, new=new.size)["proof"]
            verify_checkpoint_consistency(old, new, [base64.b64decode(h) for h in proof])
    except VerificationError as exc:
        click.echo(f"PROBLEM: {exc}", err=True)
        click.echo("VERDICT: not cosigned")
        raise SystemExit(1) from None
    signature = cosign_checkpoint(latest["note"].encode(), signer, int(time.time()))
    server.post("/api/v1/audit/cosignatures", {"size": new.size, "signature": signature.line()})
    state.write_text(json.dumps({"checkpoint": new.text()}, indent=2) + "\n")
    click.echo(f"VERDICT: cosigned the checkpoint of size {new.size}")
