"""Every setting of filehub, with its unit and default.

Sources, strongest first: ``FILEHUB_*`` environment variables, then the TOML file given
with ``--config`` (or ``FILEHUB_CONFIG``), then the defaults below. Sizes accept units
("16 MiB", "1 TiB"); durations accept "90s", "15m", "24h", "7d" or plain seconds.
``config/filehub.example.toml`` documents the same options for operators.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, ByteSize, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """'90s', '15m', '24h', '7d', '2w', an int of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 24h, 7d)")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FILEHUB_", extra="forbid", frozen=True)

    data_dir: Path = Field(
        Path("filehub-data"),
        description="Folder for the embedded default: SQLite database, local object store, log key.",
    )
    database_url: str | None = Field(
        None,
        description="sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db; "
        "default: SQLite in data_dir.",
    )
    storage_url: str | None = Field(
        None,
        description="file:///path (local disk) or s3://bucket/prefix (any S3 API; credentials "
        "from the standard AWS variables or files); default: data_dir/objects.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="S3 API endpoint (http://127.0.0.1:8333 for SeaweedFS, MinIO, Ceph RGW); "
        "default: AWS S3 of s3_region.",
    )
    s3_region: str = Field("us-east-1", description="S3 region used for signing requests.")
    s3_min_part_size: ByteSize = Field(
        ByteSize(8 << 20),
        ge=5 << 20,
        description="Smallest S3 multipart part, bytes (S3 refuses parts under 5 MiB but the "
        "last). Parts grow with Upload-Length so no upload needs more than 10,000.",
    )
    s3_max_part_buffers: int = Field(
        8,
        ge=1,
        description="How many part-sized memory buffers one instance holds at once (one per "
        "PATCH or concatenation in progress; others wait). Memory: this times the part size.",
    )
    s3_connect_timeout: Duration = Field(
        timedelta(seconds=3), description="Give up connecting to the S3 endpoint after this long."
    )
    s3_read_timeout: Duration = Field(
        timedelta(seconds=30),
        description="Give up on an S3 response (or a send) that stalls this long.",
    )
    s3_max_attempts: int = Field(
        3, ge=1, description="Attempts per S3 request (first try + retries) before answering 503."
    )
    s3_presigned_downloads: bool = Field(
        False,
        description="Answer file downloads with a redirect to a short-lived presigned S3 URL, so "
        "bytes bypass filehub. A revoke then stops new downloads at once, but a URL already "
        "handed out works until it expires.",
    )
    s3_presign_expiry: Duration = Field(
        timedelta(seconds=60), description="Lifetime of a presigned download URL."
    )
    public_url: str | None = Field(
        None,
        description="External base URL (https://filehub.example.org) used in Location headers; "
        "default: taken from each request.",
    )
    max_upload_size: ByteSize = Field(
        ByteSize(1 << 40), description="Largest upload accepted (Tus-Max-Size), bytes or units."
    )
    upload_expiry: Duration = Field(
        timedelta(days=7),
        description="An unfinished upload expires this long after its last PATCH (sliding).",
    )
    reaper_interval: Duration = Field(
        timedelta(minutes=1), description="How often expired uploads are looked for and freed."
    )
    max_metadata_size: ByteSize = Field(
        ByteSize(8 << 10), description="Largest Upload-Metadata header accepted, bytes."
    )
    write_block_size: ByteSize = Field(
        ByteSize(1 << 20),
        description="Upload bytes are gathered into blocks of this size before hashing and writing.",
    )
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description='Browser origins allowed to call the API (["https://app.example.org"]; '
        '["*"] for any). Empty: no CORS headers.',
    )
    token_default_expiry: Duration = Field(
        timedelta(days=30), description="Lifetime of an API token when --expires is not given."
    )
    audit_retention: Duration = Field(
        timedelta(days=400),
        description="Audit events are kept at least this long (the log is append-only; "
        "filehub itself never deletes them).",
    )
    audit_log_key: str | None = Field(
        None,
        description="The audit log's signing key (PRIVATE+KEY+<name>+<id>+<base64>); default: "
        "generated on first start and kept in the database.",
    )
    audit_witness_keys: list[str] = Field(
        default_factory=list,
        description="Verifier keys of the witnesses (other agencies) whose cosignatures of "
        "audit checkpoints the server accepts and serves.",
    )
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("database_url", "storage_url", "public_url", "s3_endpoint_url", "audit_log_key")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = settings_cls.model_config.get("toml_file")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        """Settings from env, then ``config_file`` (TOML), then defaults; ``overrides`` win."""
        if config_file is None:
            return cls(**overrides)
        if not Path(config_file).is_file():
            raise ValueError(f"config file not found: {config_file}")
        with_file = type(
            "FileSettings", (cls,), {"model_config": {**cls.model_config, "toml_file": config_file}}
        )
        return with_file(**overrides)

    # --- derived values -------------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'filehub.db'}"

    @property
    def effective_storage_url(self) -> str:
        return self.storage_url or (self.data_dir.resolve() / "objects").as_uri()
