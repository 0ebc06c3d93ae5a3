"""Object stores for tests: a local folder, or a real SeaweedFS S3 server.

Select with FILEHUB_TEST_STORAGE=local|s3 (scripts/test runs both). SeaweedFS
(scripts/seaweedfs.py) is started at most once per pytest session, on first use, and
stopped when the session ends; each test gets its own key prefix in its bucket.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from scripts.seaweedfs import SeaweedFS

TEST_PART_SIZE = 5 << 20  # bytes: S3's minimum, so part boundaries are cheap to cross
_SERVER = pytest.StashKey[SeaweedFS]()


def storage_backend() -> str:
    backend = os.environ.get("FILEHUB_TEST_STORAGE", "local")
    if backend not in ("local", "s3"):
        raise ValueError(f"FILEHUB_TEST_STORAGE must be local or s3, not {backend!r}")
    return backend


def credentials_env(server: SeaweedFS) -> dict[str, str]:
    """The AWS variables boto3's default chain reads, and nothing from the developer's ~/.aws."""
    missing = str(server.root / "no-aws-config")
    return {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_CONFIG_FILE": missing,
        "AWS_SHARED_CREDENTIALS_FILE": missing,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def shared_seaweedfs(config: pytest.Config) -> SeaweedFS:
    """The session's SeaweedFS, started on first use; its credentials are in os.environ
    until the session ends (the S3 store reads them through boto3's default chain)."""
    server = config.stash.get(_SERVER, None)
    if server is not None:
        return server
    server = SeaweedFS(bucket="filehub-test")
    server.start()
    config.add_cleanup(server.close)
    names = (*credentials_env(server), "AWS_PROFILE", "AWS_SESSION_TOKEN")
    saved = {name: os.environ.get(name) for name in names}

    def restore() -> None:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    config.add_cleanup(restore)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(credentials_env(server))
    config.stash[_SERVER] = server
    return server


def s3_settings(server: SeaweedFS, prefix: str | None = None) -> dict[str, Any]:
    """Settings values that put a filehub's uploads under a fresh prefix of the server's bucket."""
    prefix = prefix or "t-" + secrets.token_hex(6)
    return {
        "storage_url": f"s3://{server.bucket}/{prefix}/",
        "s3_endpoint_url": server.endpoint_url,
        "s3_min_part_size": TEST_PART_SIZE,
    }


def storage_settings(config: pytest.Config, tmp_path: Path) -> dict[str, Any]:
    """Settings values for the storage FILEHUB_TEST_STORAGE selects."""
    if storage_backend() == "s3":
        return s3_settings(shared_seaweedfs(config))
    return {"storage_url": (tmp_path / "objects").as_uri()}


def storage_env(config: pytest.Config) -> dict[str, str]:
    """The same choice as environment variables, for ``filehub serve`` subprocesses
    (empty for local storage: the server's own folder is used)."""
    if storage_backend() != "s3":
        return {}
    server = shared_seaweedfs(config)
    values = s3_settings(server)
    return {
        "FILEHUB_STORAGE_URL": values["storage_url"],
        "FILEHUB_S3_ENDPOINT_URL": values["s3_endpoint_url"],
        "FILEHUB_S3_MIN_PART_SIZE": str(values["s3_min_part_size"]),
        **credentials_env(server),
    }
