"""What the client commands share: the config, an API session, and error reporting.

Errors the user can act on (ClientError, ApiError, CryptoError) print as one line and exit 1;
nothing printed ever holds a token, a key or plaintext.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import click

from filehub.client import ClientError
from filehub.client.api import Api
from filehub.client.config import ClientConfig
from filehub.crypto import CryptoError

T = TypeVar("T")


def run(work: Callable[[ClientConfig, Api], Awaitable[T]]) -> T:
    """Run ``work`` with the saved config and a logged-in API session."""
    config = ClientConfig.load()
    try:
        url, token = config.require_login()

        async def main() -> T:
            async with Api(url, token) as api:
                return await work(config, api)

        return asyncio.run(main())
    except (ClientError, CryptoError) as exc:
        raise click.ClickException(str(exc)) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise click.ClickException(f"cannot reach the server: {type(exc).__name__}: {exc}") from None


def guard(action: Callable[[], T]) -> T:
    """Local work (no server) with the same error reporting."""
    try:
        return action()
    except (ClientError, CryptoError) as exc:
        raise click.ClickException(str(exc)) from None
