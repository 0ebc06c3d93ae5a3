"""The server's part of end-to-end encryption, over HTTP (docs/e2e.md): what it refuses,
what it stores, and who it serves a wrapped key to. The client side has tests of its own."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient

from filehub.crypto.header import Metadata, open_header, seal_header, unwrap_file_key
from filehub.crypto.keys import Identity, OrgRootKey, verify_chain
from filehub.crypto.stream import Layout
from filehub.web import keys
from tests.support import e2e
from tests.support.e2e import Member, enc
from tests.support.tusclient import OCTETS, TUS
from tests.support.world import Caller, World, b64, build

PLAINTEXT = b"frame of CCTV footage " * 5000  # 110,000 bytes: two chunks


@pytest.fixture
async def world(client: TestClient) -> World:
    world = await build(client)
    cus = world["custodian"]
    world.ids["ce"] = (await cus.call("POST", "/api/v1/cases", {"reference": "URN-E", "title": "R v Enc"}, 201))["id"]
    await world.grant("custodian", "ce", "prosecutor", "organisation", world.orgs["cps"])
    world.extra["met_root"] = await e2e.publish_root(world["met_admin"], world.orgs["met"])
    world.extra["smith_root"] = await e2e.publish_root(world["smith_admin"], world.orgs["smith"])
    world.extra["custodian"] = await e2e.certified_member(cus, world["met_admin"], world.extra["met_root"], world.orgs["met"])
    return world


def custodian(world: World) -> Member:
    return world.extra["custodian"]


async def test_a_case_requiring_encryption_refuses_plain_uploads_and_links(world: World) -> None:
    cus = world["custodian"]
    created = await cus.request("POST", "/api/v1/uploads", **TUS, **{
        "Upload-Length": "3", "Upload-Metadata": f"case {b64(world.ids['ce'])}"})
    assert created.status == 409
    assert (await created.json())["error"]["code"] == "encryption_required"
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    link = {"note": "n", "expires_at": tomorrow, "max_files": 1, "max_bytes": 10}
    refused = await cus.request("POST", f"/api/v1/cases/{world.ids['ce']}/links", json=link)
    assert refused.status == 409
    not_ciphertext = await cus.request("POST", "/api/v1/uploads", **TUS, **{
        "Upload-Length": "15", "Upload-Metadata": f"{e2e.ENCRYPTION},case {b64(world.ids['ce'])}"})
    assert not_ciphertext.status == 400  # shorter than one tag
    assert (await cus.request("POST", "/api/v1/uploads", **TUS, **{  # a whole chunk then a bare tag
        "Upload-Length": str(65552 + 16), "Upload-Metadata": e2e.ENCRYPTION})).status == 400


async def test_completion_waits_for_the_signed_header_and_keeps_the_bytes(world: World) -> None:
    member, root = custodian(world), world.extra["met_root"]
    upload_id = await e2e.create_encrypted(member.caller, len(PLAINTEXT), world.ids["ce"])
    sealed = e2e.seal(PLAINTEXT, upload_id, member, root)
    response = await member.caller.client.patch(f"/api/v1/uploads/{upload_id}", data=sealed.ciphertext,
                                                headers=member.caller.headers(**TUS, **OCTETS, **{"Upload-Offset": "0"}))
    assert response.status == 409, await response.text()
    assert (await response.json())["error"]["code"] == "encryption_required"
    head = await member.caller.request("HEAD", f"/api/v1/uploads/{upload_id}", **TUS)
    assert head.headers["Upload-Offset"] == str(len(sealed.ciphertext))  # the bytes are kept
    assert (await member.caller.request("GET", f"/api/v1/files/{upload_id}")).status == 404

    await member.caller.call("PUT", f"/api/v1/uploads/{upload_id}/envelope",
                             {"header": enc(sealed.header), "wrapped_key": enc(sealed.own_row)}, 204)
    head = await member.caller.request("HEAD", f"/api/v1/uploads/{upload_id}", **TUS)
    assert head.status == 200
    file = await member.caller.call("GET", f"/api/v1/files/{upload_id}")  # the file's id is the upload's
    assert file["encrypted"] is True and file["size"] == len(sealed.ciphertext)
    again = await member.caller.request("PUT", f"/api/v1/uploads/{upload_id}/envelope",
                                        json={"header": enc(sealed.header), "wrapped_key": enc(sealed.own_row)})
    assert again.status == 409  # a finished file's header never changes


async def test_envelopes_that_do_not_fit_are_refused(world: World) -> None:
    member, root = custodian(world), world.extra["met_root"]
    upload_id = await e2e.create_encrypted(member.caller, len(PLAINTEXT), world.ids["ce"])
    other_id = await e2e.create_encrypted(member.caller, len(PLAINTEXT), world.ids["ce"])
    good = e2e.seal(PLAINTEXT, upload_id, member, root)
    uncertified = Member(member.caller, await e2e.register(member.caller), member.org_id, b"")
    cases = {
        "another upload's header": e2e.seal(PLAINTEXT, other_id, member, root).header,
        "wrong length": e2e.seal(PLAINTEXT + b"!", upload_id, member, root).header,
        "flipped signature bit": good.header[:-1] + bytes([good.header[-1] ^ 1]),
        "uncertified key": _signed_by(uncertified, good, upload_id),
        "garbage": b"filehub-e2e\x01\x01 nonsense",
    }
    for what, header in cases.items():
        response = await member.caller.request("PUT", f"/api/v1/uploads/{upload_id}/envelope",
                                               json={"header": enc(header), "wrapped_key": enc(good.own_row)})
        assert response.status == 422, (what, await response.text())
    bad_base64 = await member.caller.request("PUT", f"/api/v1/uploads/{upload_id}/envelope",
                                             json={"header": "!!", "wrapped_key": enc(good.own_row)})
    assert bad_base64.status == 400
    stranger = await world["prosecutor"].request("PUT", f"/api/v1/uploads/{upload_id}/envelope",
                                                 json={"header": enc(good.header), "wrapped_key": enc(good.own_row)})
    assert stranger.status == 404


def _signed_by(signer: Member, good: e2e.Sealed, upload_id: str) -> bytes:
    """A well-formed header for the upload, signed by ``signer``'s key."""
    metadata = Metadata("x", "video/mp4", b"\0" * 32, {})
    return seal_header(good.file_key, file_id=bytes.fromhex(upload_id), version=1,
                       plaintext_length=len(PLAINTEXT), metadata=metadata, uploader=signer.identity)


async def test_a_wrapped_key_reaches_only_its_recipient_while_the_grant_holds(world: World) -> None:
    member, met_root, smith_root = custodian(world), world.extra["met_root"], world.extra["smith_root"]
    defence = await e2e.certified_member(world["defence"], world["smith_admin"], smith_root, world.orgs["smith"])
    file_id, sealed = await e2e.encrypted_file(member, met_root, PLAINTEXT, world.ids["c1"])
    pro = world["prosecutor"]
    await pro.call("POST", f"/api/v1/bundles/{world.ids['b1']}/files", {"file_id": file_id}, 204)

    # The custodian shares the key with the defence member's certified key.
    row = e2e.wrap_to(sealed, file_id, defence.certified(smith_root), member)
    added = await member.caller.call("POST", f"/api/v1/files/{file_id}/keys", {"wrapped_keys": [enc(row)]})
    assert added == {"added": 1, "skipped": 0}
    again = await member.caller.call("POST", f"/api/v1/files/{file_id}/keys", {"wrapped_keys": [enc(row)]})
    assert again == {"added": 0, "skipped": 1}

    # The defence member opens it, checking every signature against pinned roots.
    envelope = await defence.caller.call("GET", f"/api/v1/files/{file_id}/envelope")
    held = (await defence.caller.call("GET", f"/api/v1/files/{file_id}/keys/mine"))["items"]
    assert [h["recipient_key_id"] for h in held] == [defence.key_id]
    now = int(time.time())
    granter = verify_chain(e2e.b64decode(held[0]["granter"]["certificate"]), met_root.public_key,
                           org_id=world.orgs["met"], now=now)
    uploader = verify_chain(e2e.b64decode(envelope["uploader"]["certificate"]), met_root.public_key,
                            org_id=world.orgs["met"], now=now)
    fk = unwrap_file_key(e2e.b64decode(held[0]["wrapped_key"]), recipient=defence.identity, granter=granter,
                         file_id=bytes.fromhex(file_id), version=1)
    opened = open_header(e2e.b64decode(envelope["header"]), file_key=fk, uploader=uploader,
                         file_id=bytes.fromhex(file_id))
    content = await defence.caller.client.get(f"/api/v1/files/{file_id}/content", headers=defence.caller.headers())
    decryptor = opened.decryptor()
    plain = decryptor.update(await content.read())
    decryptor.finish()
    assert plain == PLAINTEXT

    # Other users get nothing: not the prosecutor's (none sealed to them), not a stranger's.
    assert (await pro.call("GET", f"/api/v1/files/{file_id}/keys/mine"))["items"] == []
    assert (await world["outsider"].request("GET", f"/api/v1/files/{file_id}/keys/mine")).status == 404

    # Revoking the disclosure stops the key, the header and the bytes at once.
    grants = await pro.call("GET", f"/api/v1/bundles/{world.ids['b1']}/grants")
    smith = next(g for g in grants["items"] if g["subject_id"] == world.orgs["smith"] and g["active"])
    await pro.call("DELETE", f"/api/v1/bundles/{world.ids['b1']}/grants/{smith['id']}", expect=204)
    for path in (f"/api/v1/files/{file_id}/keys/mine", f"/api/v1/files/{file_id}/envelope",
                 f"/api/v1/files/{file_id}/content"):
        assert (await defence.caller.request("GET", path)).status == 404, path


async def test_rows_must_be_signed_by_the_caller_and_sealed_to_a_usable_key(world: World) -> None:
    member, met_root, smith_root = custodian(world), world.extra["met_root"], world.extra["smith_root"]
    defence = await e2e.certified_member(world["defence"], world["smith_admin"], smith_root, world.orgs["smith"])
    file_id, sealed = await e2e.encrypted_file(member, met_root, PLAINTEXT, world.ids["c1"])
    await world["prosecutor"].call("POST", f"/api/v1/bundles/{world.ids['b1']}/files", {"file_id": file_id}, 204)
    to_defence = defence.certified(smith_root)
    forged = e2e.wrap_to(sealed, file_id, to_defence, defence)  # signed by the defence, sent by the custodian
    response = await member.caller.request("POST", f"/api/v1/files/{file_id}/keys", json={"wrapped_keys": [enc(forged)]})
    assert response.status == 422
    other_file, _ = await e2e.encrypted_file(member, met_root, PLAINTEXT, world.ids["c1"])
    misfiled = e2e.wrap_to(sealed, other_file, to_defence, member)  # a row for another file
    response = await member.caller.request("POST", f"/api/v1/files/{file_id}/keys", json={"wrapped_keys": [enc(misfiled)]})
    assert response.status == 422

    # A revoked key receives no rows and is served none.
    row = e2e.wrap_to(sealed, file_id, to_defence, member)
    await member.caller.call("POST", f"/api/v1/files/{file_id}/keys", {"wrapped_keys": [enc(row)]})
    revoked = await defence.caller.call("POST", f"/api/v1/keys/{defence.key_id}/revocation",
                                        {"revocation": enc(e2e.revocation_of(defence.identity))})
    assert revoked["revoked_at"] is not None and len(revoked["revocations"]) == 1
    assert (await defence.caller.call("GET", f"/api/v1/files/{file_id}/keys/mine"))["items"] == []
    response = await member.caller.request("POST", f"/api/v1/files/{other_file}/keys", json={"wrapped_keys": [enc(
        e2e.wrap_to(sealed, other_file, to_defence, member))]})
    assert response.status in (404, 422)  # other_file is not disclosed to anyone; either way no row


async def test_certificates_are_checked_against_the_published_root(world: World) -> None:
    colleague, admin = world["colleague"], world["met_admin"]
    identity = await e2e.register(colleague)
    path = f"/api/v1/keys/{identity.key_id.hex()}/certificate"
    strange_root = OrgRootKey.generate()
    cases = {
        "another root": e2e.certificate_for(identity, strange_root, world.orgs["met"], colleague.user_id or ""),
        "another user": e2e.certificate_for(identity, world.extra["met_root"], world.orgs["met"], "someone-else"),
        "another key": e2e.certificate_for(Identity.generate(), world.extra["met_root"], world.orgs["met"],
                                           colleague.user_id or ""),
    }
    for what, certificate in cases.items():
        response = await admin.request("PUT", path, json={"certificate": enc(certificate)})
        assert response.status == 422, (what, await response.text())
    good = e2e.certificate_for(identity, world.extra["met_root"], world.orgs["met"], colleague.user_id or "")
    assert (await colleague.request("PUT", path, json={"certificate": enc(good)})).status == 403  # not an admin
    assert (await world["smith_admin"].request("PUT", path, json={"certificate": enc(good)})).status == 403
    certified = await admin.call("PUT", path, {"certificate": enc(good)})
    assert certified["certified_at"] is not None
    by_user = await world["defence"].call("GET", f"/api/v1/keys?user={colleague.user_id}")
    assert [k["key_id"] for k in by_user["items"]] == [identity.key_id.hex()]
    root = await world["defence"].call("GET", f"/api/v1/organisations/{world.orgs['met']}/root-key")
    assert e2e.b64decode(root["public_key"]) == world.extra["met_root"].public_key
    replaced = await admin.request("PUT", f"/api/v1/organisations/{world.orgs['met']}/root-key",
                                   json={"public_key": enc(strange_root.public_key)})
    assert replaced.status == 409


async def test_a_member_who_joins_later_is_served_after_a_holder_fulfils_the_request(world: World) -> None:
    member, met_root, smith_root = custodian(world), world.extra["met_root"], world.extra["smith_root"]
    file_id, sealed = await e2e.encrypted_file(member, met_root, PLAINTEXT, world.ids["c1"])
    await world["prosecutor"].call("POST", f"/api/v1/bundles/{world.ids['b1']}/files", {"file_id": file_id}, 204)

    accounts = world.client.app[keys.ACCOUNTS]
    user_id = await accounts.create_user("newcomer@smith.example", "Smith Solicitors", "member")
    token, _ = await accounts.create_token("newcomer@smith.example", timedelta(hours=1))
    newcomer_caller = Caller(world.client, f"Bearer {token}", user_id)
    newcomer = await e2e.certified_member(newcomer_caller, world["smith_admin"], smith_root, world.orgs["smith"])

    # A member whose key is revoked before anyone fulfils their request drops off the list.
    user2 = await accounts.create_user("leaver@smith.example", "Smith Solicitors", "member")
    token2, _ = await accounts.create_token("leaver@smith.example", timedelta(hours=1))
    leaver = await e2e.certified_member(Caller(world.client, f"Bearer {token2}", user2), world["smith_admin"],
                                        smith_root, world.orgs["smith"])
    await leaver.caller.call("POST", f"/api/v1/keys/{leaver.key_id}/revocation",
                             {"revocation": enc(e2e.revocation_of(leaver.identity))})

    # Certification opened a request; the custodian (who holds the key) sees and fulfils it.
    pending = (await member.caller.call("GET", "/api/v1/key-requests"))["items"]
    mine = [p for p in pending if p["file_id"] == file_id]
    assert [p["requester"]["key_id"] for p in mine] == [newcomer.key_id]
    assert (await world["outsider"].call("GET", "/api/v1/key-requests"))["items"] == []
    recipient = verify_chain(e2e.b64decode(mine[0]["requester"]["certificate"]), smith_root.public_key,
                             org_id=world.orgs["smith"], now=int(time.time()))
    row = e2e.wrap_to(sealed, file_id, recipient, member)
    await member.caller.call("POST", f"/api/v1/files/{file_id}/keys", {"wrapped_keys": [enc(row)]})
    assert [p for p in (await member.caller.call("GET", "/api/v1/key-requests"))["items"] if p["file_id"] == file_id] == []
    held = (await newcomer.caller.call("GET", f"/api/v1/files/{file_id}/keys/mine"))["items"]
    assert [h["recipient_key_id"] for h in held] == [newcomer.key_id]
    asked = await newcomer.caller.request("POST", f"/api/v1/files/{file_id}/key-requests")
    assert asked.status == 409 and (await asked.json())["error"]["code"] == "key_already_held"
    keyless = await world["smith_admin"].request("POST", f"/api/v1/files/{file_id}/key-requests")
    assert keyless.status == 409 and (await keyless.json())["error"]["code"] == "no_certified_key"


async def test_the_server_stores_no_plaintext_and_no_file_key(world: World, settings: object) -> None:
    member, root = custodian(world), world.extra["met_root"]
    secret = b"VICTIM-STATEMENT-" + bytes(range(256)) * 300
    file_id, sealed = await e2e.encrypted_file(member, root, secret, world.ids["ce"])
    assert Layout(len(secret)).ciphertext_length == (await member.caller.call("GET", f"/api/v1/files/{file_id}"))["size"]
    dumped = await e2e.everything_stored(world.client.app)
    assert dumped, "nothing was read back from the database and the store"
    for needle in (secret[:64], secret[-64:], b"VICTIM-STATEMENT", sealed.file_key, b"cctv.mp4"):
        assert needle not in dumped
    assert sealed.ciphertext[:64] in dumped  # the scan does see the stored object


async def test_every_key_action_leaves_its_event_and_a_refused_one_none(world: World) -> None:
    member, met_root, smith_root = custodian(world), world.extra["met_root"], world.extra["smith_root"]
    defence = await e2e.certified_member(world["defence"], world["smith_admin"], smith_root, world.orgs["smith"])
    file_id, sealed = await e2e.encrypted_file(member, met_root, PLAINTEXT, world.ids["c1"])
    await world["prosecutor"].call("POST", f"/api/v1/bundles/{world.ids['b1']}/files", {"file_id": file_id}, 204)
    await defence.caller.call("POST", f"/api/v1/files/{file_id}/key-requests", expect=201)
    row = e2e.wrap_to(sealed, file_id, defence.certified(smith_root), member)
    await member.caller.call("POST", f"/api/v1/files/{file_id}/keys", {"wrapped_keys": [enc(row)]})
    await defence.caller.call("GET", f"/api/v1/files/{file_id}/keys/mine")
    await defence.caller.call("POST", f"/api/v1/keys/{defence.key_id}/revocation",
                              {"revocation": enc(e2e.revocation_of(defence.identity))})
    refused_id = await e2e.create_encrypted(member.caller, len(PLAINTEXT), world.ids["c1"])
    refused = await member.caller.request("PUT", f"/api/v1/uploads/{refused_id}/envelope",
                                          json={"header": enc(sealed.header), "wrapped_key": enc(sealed.own_row)})
    assert refused.status == 422  # the header names another upload

    events = await e2e.audit_events(world.client.app)
    def about(action: str, obj: str) -> list[dict]:  # type: ignore[type-arg]
        return [e for e in events if e["action"] == action and e["object"] == obj]
    expected = {
        ("org.root_key_set", f"organisation:{world.orgs['smith']}"): world["smith_admin"].user_id,
        ("key.registered", f"key:{defence.key_id}"): defence.caller.user_id,
        ("key.certified", f"key:{defence.key_id}"): world["smith_admin"].user_id,
        ("file.envelope_set", f"upload:{file_id}"): member.caller.user_id,
        ("file.key_requested", f"file:{file_id}"): defence.caller.user_id,
        ("file.key_wrapped", f"file:{file_id}"): member.caller.user_id,
        ("file.key_fetched", f"file:{file_id}"): defence.caller.user_id,
        ("key.revoked", f"key:{defence.key_id}"): defence.caller.user_id,
    }
    for (action, obj), actor in expected.items():
        found = about(action, obj)
        assert found and all(e["actor"] == actor for e in found), (action, obj, found)
    wrapped = about("file.key_wrapped", f"file:{file_id}")
    assert {r["key"] for e in wrapped for r in e["details"]["recipients"]} == {member.key_id, defence.key_id}
    assert about("file.envelope_set", f"upload:{refused_id}") == []
