"""Who may upload into a case, as the tus handler's UploadPolicy (docs/authz.md, "Uploads").

- An upload whose ``Upload-Metadata`` names a case (``case <base64 id>``) needs
  `case#can_upload` at creation and on every HEAD, PATCH and DELETE after it; its file then
  belongs to the case. Fetching its bytes back through the tus URL needs `file#can_download`
  (a contributor uploads and reads nothing). An upload naming no case is a personal one,
  private to its owner as before.
- The holder of a request link creates uploads into the link's case only, with a known
  length (counted against the link's limits), no concatenation; they may resume or cancel
  uploads made through the same link and fetch nothing. Each request also needs the link's
  creator to hold `case#can_upload` still.
- A case that requires encryption (docs/e2e.md) takes only uploads that declare it
  (``encryption filehub-e2e/1``) with a length a ciphertext can have; link holders have no
  keys, so they cannot upload into it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from filehub.authz.model import ObjectRef
from filehub.authz.service import AuthzService
from filehub.crypto import CryptoError
from filehub.crypto.stream import Layout
from filehub.errors import BadRequest, EncryptionRequired, Forbidden, NotFound, UploadNotFound
from filehub.ids import is_valid_id
from filehub.services.accounts import Principal
from filehub.services.e2e_files import ENCRYPTION_KEY, ENCRYPTION_VALUE
from filehub.services.links import LinkPrincipal, RequestLinks
from filehub.storage.base import UploadAction, UploadInfo
from filehub.tus.protocol import metadata_text

CASE_KEY = "case"  # Upload-Metadata key naming the case


class CaseUploadPolicy:
    def __init__(
        self, authz: AuthzService, links: RequestLinks, requires_encryption: Callable[[str], Awaitable[bool]]
    ) -> None:
        self._authz = authz
        self._links = links
        self._requires_encryption = requires_encryption

    async def authorize(self, action: UploadAction, principal: Any, info: UploadInfo) -> UploadInfo:
        if isinstance(principal, LinkPrincipal):
            return await self._for_link(action, principal, info)
        if not isinstance(principal, Principal):
            raise UploadNotFound()  # fail closed on a caller this policy does not know
        if action == "create":
            return await self._create(principal, info)
        if info.link_id is not None and action != "get":
            raise UploadNotFound()  # resumed by the link's holder only
        if info.case_id is None:
            return info
        if action == "get":
            target = ObjectRef("file", info.file_id) if info.file_id else ObjectRef("case", info.case_id)
            if not await self._authz.check(target, "can_download", principal.user_id):
                raise UploadNotFound()
            return info
        if not await self._authz.check(ObjectRef("case", info.case_id), "can_upload", principal.user_id):
            raise Forbidden("you may no longer upload into this case")
        return info

    async def _create(self, principal: Principal, info: UploadInfo) -> UploadInfo:
        case_id = _named_case(info)
        encrypted = _declares_encryption(info)
        if case_id is None:
            return info
        await self._authz.require(ObjectRef("case", case_id), "can_upload", principal.user_id)
        if not encrypted and await self._requires_encryption(case_id):
            raise EncryptionRequired()
        return info.with_(case_id=case_id)

    async def _for_link(self, action: UploadAction, holder: LinkPrincipal, info: UploadInfo) -> UploadInfo:
        if action != "create":
            if info.link_id != holder.link_id or action == "get":
                raise UploadNotFound()
            await self._lender_may_upload(holder)
            return info
        named = _named_case(info)
        if named is not None and named != holder.case_id:
            raise NotFound("no such case")
        if info.concat is not None:
            raise Forbidden("uploads through a request link cannot use concatenation")
        if info.length is None:
            raise BadRequest("uploads through a request link need Upload-Length")
        await self._lender_may_upload(holder)
        if await self._requires_encryption(holder.case_id):
            raise EncryptionRequired("this case accepts end-to-end-encrypted files only, which a link cannot send")
        await self._links.reserve(holder.link_id, info.length)
        return info.with_(case_id=holder.case_id, link_id=holder.link_id)

    async def _lender_may_upload(self, holder: LinkPrincipal) -> None:
        if not await self._authz.check(ObjectRef("case", holder.case_id), "can_upload", holder.created_by):
            raise Forbidden("this request link no longer accepts uploads")


def _declares_encryption(info: UploadInfo) -> bool:
    """Whether the upload says it is encrypted; then its length must be a ciphertext's."""
    if ENCRYPTION_KEY not in info.metadata:
        return False
    if metadata_text(info.metadata, ENCRYPTION_KEY) != ENCRYPTION_VALUE:
        raise BadRequest(f"the only encryption this server knows is {ENCRYPTION_VALUE}")
    if info.length is not None:
        try:
            Layout.from_ciphertext_length(info.length)
        except (CryptoError, ValueError):
            raise BadRequest("Upload-Length is not the length of an encrypted file") from None
    return True


def _named_case(info: UploadInfo) -> str | None:
    if CASE_KEY not in info.metadata:
        return None
    case_id = metadata_text(info.metadata, CASE_KEY)
    if case_id is None or not is_valid_id(case_id):
        raise NotFound("no such case")
    return case_id
