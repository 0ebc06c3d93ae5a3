"""Settings: units, sources and their order."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from filehub.settings import Settings, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800), ("2w", 1209600), ("30", 30), (45, 45)]
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1y", "-5m", "soon", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_defaults_are_the_embedded_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FILEHUB_DATABASE_URL", "FILEHUB_STORAGE_URL", "FILEHUB_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.effective_database_url.endswith("filehub-data/filehub.db")
    assert settings.effective_storage_url.endswith("filehub-data/objects")
    assert settings.upload_expiry == timedelta(days=7)
    assert int(settings.max_upload_size) == 1 << 40


def test_env_overrides_toml_which_overrides_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "filehub.toml"
    config.write_text('max_upload_size = "16 MiB"\nupload_expiry = "2h"\ncors_allowed_origins = ["https://a.example"]\n')
    monkeypatch.setenv("FILEHUB_UPLOAD_EXPIRY", "30m")
    settings = Settings.load(config)
    assert int(settings.max_upload_size) == 16 << 20
    assert settings.upload_expiry == timedelta(minutes=30)
    assert settings.cors_allowed_origins == ["https://a.example"]


def test_unknown_or_invalid_settings_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "filehub.toml"
    config.write_text("max_uplaod_size = 5\n")
    with pytest.raises(ValidationError):
        Settings.load(config)
    with pytest.raises(ValueError):
        Settings.load(tmp_path / "missing.toml")
    with pytest.raises(ValidationError):
        Settings(max_upload_size="lots")


def test_example_config_documents_every_setting() -> None:
    example = (Path(__file__).parents[2] / "config" / "filehub.example.toml").read_text()
    for name in Settings.model_fields:
        assert f"# {name} =" in example or f"{name} =" in example, name
