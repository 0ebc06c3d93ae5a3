"""The whole route table: every route the app serves, with what the OpenAPI document says of it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from filehub.web import keys
from filehub.web import schemas as s
from filehub.web.openapi import Route, build_document
from filehub.web.views import (
    audit,
    cases,
    directory,
    docs,
    e2e_keys,
    envelopes,
    files,
    grants,
    health,
    links,
    uploads,
)

TUS = "tus 1.0.0 (creation, expiration, checksum, termination, concatenation); tus headers, no JSON body"


def _tus_routes() -> list[Route]:
    collection, one = "/api/v1/uploads", "/api/v1/uploads/{upload_id}"
    return [
        Route("OPTIONS", collection, uploads.uploads, "tus capabilities", "uploads", status=204, auth="none"),
        Route("POST", collection, uploads.uploads, f"Create an upload. {TUS}. Upload-Metadata 'case <base64 id>' "
              "files it into a case (needs upload permission then and on every PATCH)", "uploads",
              status=201, auth="bearer_or_link"),
        Route("OPTIONS", one, uploads.upload, "tus capabilities", "uploads", status=204, auth="none"),
        Route("HEAD", one, uploads.upload, "The upload's offset", "uploads", auth="bearer_or_link"),
        Route("PATCH", one, uploads.upload, "Append bytes at Upload-Offset", "uploads", status=204,
              auth="bearer_or_link"),
        Route("DELETE", one, uploads.upload, "Terminate an unfinished upload", "uploads", status=204,
              auth="bearer_or_link"),
        Route("GET", one, uploads.upload, "The bytes of a completed upload (Range, ETag)", "uploads",
              auth="bearer_or_link", media="application/octet-stream"),
        Route("POST", one, uploads.upload, "X-HTTP-Method-Override for clients that only POST", "uploads",
              auth="bearer_or_link"),
    ]


ROUTES: list[Route] = [
    Route("GET", "/healthz", health.healthz, "Liveness", "probes", reply=s.Health, auth="none"),
    Route("GET", "/readyz", health.readyz, "Readiness: database and store reachable (else 503)", "probes",
          reply=s.Health, auth="none"),
    Route("GET", "/metrics", health.metrics, "Prometheus metrics", "probes", auth="none", media="text/plain"),
    Route("GET", "/api/v1/openapi.json", docs.openapi, "This document", "meta", auth="none",
          media="application/json"),
    # who am I; organisations, their users and groups
    Route("GET", "/api/v1/me", directory.me, "The caller", "directory", reply=s.Me),
    Route("GET", "/api/v1/organisations", directory.list_orgs, "The organisations (to name them in grants)",
          "directory", reply=s.OrgPage, paged=True),
    Route("GET", "/api/v1/organisations/{org_id}/users", directory.list_org_users,
          "Users of your organisation (its admins)", "directory", reply=s.UserPage, paged=True),
    Route("POST", "/api/v1/organisations/{org_id}/users", directory.create_org_user,
          "Create a user in your organisation (its admins)", "directory", body=s.UserCreate, reply=s.UserOut,
          status=201),
    Route("PATCH", "/api/v1/users/{user_id}", directory.update_user,
          "Change the role of, or disable, a user of your organisation (its admins)", "directory",
          body=s.UserUpdate, reply=s.UserOut),
    Route("GET", "/api/v1/groups", directory.list_groups, "Groups of your organisation", "directory",
          reply=s.GroupPage, paged=True),
    Route("POST", "/api/v1/groups", directory.create_group, "Create a group (admins)", "directory",
          body=s.GroupCreate, reply=s.GroupOut, status=201),
    Route("GET", "/api/v1/groups/{group_id}", directory.get_group, "A group of your organisation", "directory",
          reply=s.GroupOut),
    Route("GET", "/api/v1/groups/{group_id}/members", directory.list_members, "A group's members", "directory",
          reply=s.MemberPage, paged=True),
    Route("POST", "/api/v1/groups/{group_id}/members", directory.add_member,
          "Add a user or a nested group (admins)", "directory", body=s.GroupMemberAdd, reply=s.MemberOut,
          status=201),
    Route("DELETE", "/api/v1/groups/{group_id}/members/{member_id}", directory.remove_member,
          "Remove a member (admins)", "directory", status=204),
    # cases
    Route("GET", "/api/v1/cases", cases.list_cases, "Cases you may view", "cases", reply=s.CasePage, paged=True),
    Route("POST", "/api/v1/cases", cases.create_case, "Open a case (police); you become its custodian",
          "cases", body=s.CaseCreate, reply=s.CaseOut, status=201),
    Route("GET", "/api/v1/cases/{case_id}", cases.get_case, "A case", "cases", reply=s.CaseOut),
    Route("GET", "/api/v1/cases/{case_id}/files", cases.list_case_files, "Files of a case you may view",
          "cases", reply=s.FilePage, paged=True),
    Route("GET", "/api/v1/cases/{case_id}/bundles", cases.list_case_bundles, "Bundles of a case", "cases",
          reply=s.BundlePage, paged=True),
    Route("POST", "/api/v1/cases/{case_id}/bundles", cases.create_bundle,
          "Create a bundle (case managers and prosecutor)", "cases", body=s.BundleCreate, reply=s.BundleOut,
          status=201),
    Route("GET", "/api/v1/cases/{case_id}/grants", grants.list_grants, "Grants on a case (its managers)",
          "sharing", reply=s.GrantPage, paged=True),
    Route("POST", "/api/v1/cases/{case_id}/grants", grants.create_grant, "Grant on a case (its managers)",
          "sharing", body=s.GrantCreate, reply=s.GrantOut, status=201),
    Route("DELETE", "/api/v1/cases/{case_id}/grants/{grant_id}", grants.revoke_grant,
          "Revoke a grant on a case: effective on the next request", "sharing", status=204),
    Route("GET", "/api/v1/cases/{case_id}/links", links.list_links, "Evidence request links of a case",
          "links", reply=s.LinkPage, paged=True),
    Route("POST", "/api/v1/cases/{case_id}/links", links.create_link,
          "Create an expiring, upload-only evidence request link", "links", body=s.LinkCreate,
          reply=s.LinkCreated, status=201),
    Route("DELETE", "/api/v1/cases/{case_id}/links/{link_id}", links.revoke_link,
          "Revoke a link: uploads through it stop at their next request", "links", status=204),
    Route("GET", "/api/v1/link", links.holder_view, "For the holder of a link: its note and what it still takes",
          "links", reply=s.LinkHolderView, auth="link"),
    # bundles
    Route("GET", "/api/v1/bundles", cases.list_bundles, "Bundles you may view", "bundles", reply=s.BundlePage,
          paged=True),
    Route("GET", "/api/v1/bundles/{bundle_id}", cases.get_bundle, "A bundle", "bundles", reply=s.BundleOut),
    Route("GET", "/api/v1/bundles/{bundle_id}/files", cases.list_bundle_files, "A bundle's files", "bundles",
          reply=s.FilePage, paged=True),
    Route("POST", "/api/v1/bundles/{bundle_id}/files", cases.add_bundle_file,
          "Add a file of the case to the bundle", "bundles", body=s.BundleFileAdd, status=204),
    Route("DELETE", "/api/v1/bundles/{bundle_id}/files/{file_id}", cases.remove_bundle_file,
          "Take a file out of the bundle", "bundles", status=204),
    Route("GET", "/api/v1/bundles/{bundle_id}/grants", grants.list_grants, "Grants on a bundle", "sharing",
          reply=s.GrantPage, paged=True),
    Route("POST", "/api/v1/bundles/{bundle_id}/grants", grants.create_grant,
          "Grant on a bundle (e.g. disclose it to a defence firm)", "sharing", body=s.GrantCreate,
          reply=s.GrantOut, status=201),
    Route("DELETE", "/api/v1/bundles/{bundle_id}/grants/{grant_id}", grants.revoke_grant,
          "Revoke a grant on a bundle: effective on the next request and the next block of a download",
          "sharing", status=204),
    # files
    Route("GET", "/api/v1/files", files.list_files, "Files you may view (and your personal uploads)", "files",
          reply=s.FilePage, paged=True),
    Route("GET", "/api/v1/files/{file_id}", files.get_file, "A file's record", "files", reply=s.FileOut),
    Route("GET", "/api/v1/files/{file_id}/content", files.file_content,
          "A file's bytes (Range, ETag); checked again before every block", "files",
          media="application/octet-stream"),
    Route("HEAD", "/api/v1/files/{file_id}/content", files.file_content, "A file's content headers", "files"),
    *_tus_routes(),
    # end-to-end encryption (docs/e2e.md): public keys, headers, wrapped keys, key requests
    Route("POST", "/api/v1/keys", e2e_keys.register_key, "Register your public identity (201; 200 if known)",
          "keys", body=s.KeyRegister, reply=s.KeyOut, status=201),
    Route("GET", "/api/v1/keys", e2e_keys.list_keys, "Public keys of a user (?user=), an organisation (?org=) "
          "or yours (?mine=1)", "keys", reply=s.KeyPage, paged=True),
    Route("GET", "/api/v1/keys/{key_id}", e2e_keys.get_key, "A public key with its certificate", "keys",
          reply=s.KeyOut),
    Route("PUT", "/api/v1/keys/{key_id}/certificate", e2e_keys.certify_key,
          "Certify a member's key (admins of its organisation)", "keys", body=s.CertificateIn, reply=s.KeyOut),
    Route("POST", "/api/v1/keys/{key_id}/revocation", e2e_keys.revoke_key,
          "Revoke a key (its owner, admins of its organisation)", "keys", body=s.RevocationIn, reply=s.KeyOut),
    Route("PUT", "/api/v1/organisations/{org_id}/root-key", e2e_keys.set_root_key,
          "Publish the organisation's root public key, once (its admins)", "keys", body=s.OrgKeyIn,
          reply=s.OrgKeyOut),
    Route("GET", "/api/v1/organisations/{org_id}/root-key", e2e_keys.get_root_key,
          "An organisation's published root key (clients pin roots out of band)", "keys", reply=s.OrgKeyOut),
    Route("PUT", "/api/v1/uploads/{upload_id}/envelope", envelopes.put_envelope,
          "The signed header and your own wrapped key, before the upload completes (its uploader)", "keys",
          body=s.EnvelopeIn, status=204),
    Route("GET", "/api/v1/files/{file_id}/envelope", envelopes.get_envelope, "An encrypted file's signed header",
          "keys", reply=s.EnvelopeOut),
    Route("GET", "/api/v1/files/{file_id}/keys/mine", envelopes.my_keys,
          "The file key sealed to your keys, while you may download the file", "keys", reply=s.HeldKeyList),
    Route("POST", "/api/v1/files/{file_id}/keys", envelopes.add_keys,
          "Share the file key: rows sealed to recipients' certified keys, signed by you", "keys",
          body=s.WrappedKeysIn, reply=s.WrappedKeysAdded),
    Route("POST", "/api/v1/files/{file_id}/key-requests", envelopes.request_key,
          "Ask holders of the file key to seal it to your certified key", "keys", reply=s.KeyRequestOut,
          status=201),
    Route("GET", "/api/v1/key-requests", envelopes.pending_requests,
          "Key requests you can fulfil (you hold the key; the requester may download)", "keys",
          reply=s.KeyRequestPage, paged=True),
    # audit (docs/audit.md §7): the key is public; the rest is for auditors, each read an event
    Route("GET", "/api/v1/audit/key", audit.log_key, "The audit log's public verifier key", "audit",
          reply=s.LogKeyOut, auth="none"),
    Route("GET", "/api/v1/audit/checkpoint", audit.latest_checkpoint, "The latest signed checkpoint",
          "audit", reply=s.CheckpointOut),
    Route("GET", "/api/v1/audit/checkpoints", audit.list_checkpoints,
          "Signed checkpoints in size order (?after=<size>)", "audit", reply=s.CheckpointPage, paged=True),
    Route("GET", "/api/v1/audit/events", audit.list_events,
          "Events about your organisation (?object=&actor=&action=&since=&until=)", "audit",
          reply=s.AuditEventPage, paged=True),
    Route("GET", "/api/v1/audit/leaves", audit.list_leaves, "Every leaf hash, to verify the whole tree",
          "audit", reply=s.LeafPage, paged=True),
    Route("GET", "/api/v1/audit/proofs/inclusion", audit.inclusion_proof,
          "Inclusion proof of event ?seq= in the tree of ?size= (default: now)", "audit", reply=s.ProofOut),
    Route("POST", "/api/v1/audit/cosignatures", audit.add_witness_cosignature,
          "A configured witness's cosignature of a stored checkpoint (served with it from then on)", "audit",
          body=s.CosignatureIn, reply=s.CosignatureOut, status=201),
    Route("GET", "/api/v1/audit/proofs/consistency", audit.consistency_proof,
          "Consistency proof between tree sizes ?old= and ?new=", "audit", reply=s.ProofOut),
]


def _version() -> str:
    try:
        return version("filehub")
    except PackageNotFoundError:
        return "0.0.0"


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app[keys.OPENAPI] = build_document(ROUTES, title="filehub", version=_version())
