"""Service settings: a TOML file plus RINGBACK_* environment variables, loaded once.

Environment variables win over the file; nested keys use ``__``
(``RINGBACK_AMI__SECRET``). Secrets are ``SecretStr`` and never printed or logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path("config/ringback.toml")
DEFAULT_DATA_DIR = Path("data")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "ringback"
    secret: SecretStr = SecretStr("")
    ping_interval_seconds: float = Field(default=10, gt=0)
    connect_timeout_seconds: float = Field(default=5, gt=0)
    reconnect_max_seconds: float = Field(default=30, gt=0)
    simulate: bool = Field(
        default=True,
        description="Start the built-in PBX simulator and dial it instead of a real Asterisk.",
    )
    simulator_time_scale: float = Field(
        default=1.0, gt=0, le=10, description="The simulator's ring and talk times, scaled."
    )


class MqttSettings(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    topic_prefix: str = "ringback"
    buffer_size: int = Field(default=10_000, ge=1)


class TrunkSettings(_Section):
    """Limits of one trunk, shared by every campaign dialling through it."""

    max_concurrent: int = Field(default=100, ge=1)
    calls_per_second: float = Field(default=10, gt=0)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535, description="0: any free port")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RINGBACK_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    """Empty means SQLite in ``data_dir/ringback.db``."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    instance_id: str = Field(
        default_factory=lambda: os.uname().nodename,
        description="This process's name on leases and attempts; stable across restarts so "
        "that a restarted service settles what it left. Give each process sharing a "
        "database its own.",
    )
    ami: AmiSettings = AmiSettings()
    mqtt: MqttSettings = MqttSettings()
    api: ApiSettings = ApiSettings()
    trunks: dict[str, TrunkSettings] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get("RINGBACK_CONFIG", str(DEFAULT_CONFIG))
        toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
        return (init_settings, env_settings, toml)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'ringback.db'}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the file and the environment; tests pass overrides instead."""
    return Settings(**overrides)
