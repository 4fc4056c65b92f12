"""Settings: the only place that reads the environment (and `.env`).

Validated at start-up so that a misconfiguration fails with one clear message instead
of a stack trace on the first request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError
from imaging.sizes import parse_size

__all__ = ["Settings", "SettingsError", "load_settings", "parse_size"]


class SettingsError(ConfigError):
    """The configuration is invalid; the message says what to change."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EASEL_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- image engine ---
    image_model: str | None = Field(
        default=None, description="local folder or hub id; unset -> built-in demo model"
    )
    image_steps: int | None = Field(default=None, ge=1, le=150)
    guidance_scale: float | None = Field(default=None, ge=0.0, le=30.0)
    image_size: str | None = None  # default "WxH"; unset -> the model's native size
    max_image_side: int = Field(default=1536, ge=64, le=4096)
    max_images: int = Field(default=4, ge=1, le=8)
    max_batch_images: int = Field(default=8, ge=1, le=64)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # auto: float16 on CUDA (bfloat16 for FLUX, whose T5 encoder overflows in float16),
    # float32 elsewhere.
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    # Hugging Face's own switch (no prefix): only local folders and the hub cache.
    hf_hub_offline: bool = Field(
        default=False, validation_alias=AliasChoices("HF_HUB_OFFLINE", "hf_hub_offline"))
    # A TOML file of named engines ([[engine]] tables, optional [arena]); unset -> one
    # engine from EASEL_IMAGE_MODEL.
    engines: Path | None = None
    # /upscale: a super-resolution model file (.pth / .safetensors, any architecture
    # spandrel loads, e.g. RealESRGAN); unset -> the engine's own hi-res fix. And the
    # largest side an upscale may reach.
    upscaler: Path | None = None
    max_upscale_side: int = Field(default=2048, ge=256, le=8192)

    # --- brain ---
    rewriter: Literal["rules", "transformers", "openai"] = "rules"
    llm_model: str | None = None
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    # /describe: a vision chat model at EASEL_LLM_BASE_URL; unset: the offline describer.
    describe_model: str | None = None

    # --- state and delivery ---
    redis_url: str | None = None
    # Where images are drawn: this process (`local`) or a Ray Serve deployment (`ray`,
    # deployed with `easel ray deploy`; job records and delivery claims then live in Redis).
    runner: Literal["local", "ray"] = "local"
    ray_address: str = "auto"  # `auto`, `host:6379`, or `ray://host:10001`
    ray_app: str = "easel"  # the Serve application's name
    ray_max_attempts: int = Field(default=3, ge=1, le=10)  # dispatches of a job whose replica died
    image_store: Literal["file", "redis"] = "file"  # where images live (redis needs redis_url)
    state_ttl_days: float = Field(default=30, gt=0, le=3650)  # records and images expire
    # How long a finished picture waits out a storage (Redis) outage before the user is
    # told it could not be kept (tools/keep.py says why 60 s).
    store_retry_s: float = Field(default=60, ge=0, le=3600)
    public_url: str | None = None
    data_dir: Path = Path(".easel-data")
    # The local web chat at GET /. auto: on until Teams or Discord credentials are set (the
    # server is then public, and the page has no login of its own).
    web_chat: Literal["auto", "on", "off"] = "auto"
    # The APIs other apps call (the OpenAI Images API at /v1; A1111 and MCP beside it), off
    # unless turned on; every call needs a key (`easel keys create NAME`). A request body
    # larger than `api_max_body_mb` (an edit's pictures) is refused with 413.
    api: Literal["on", "off"] = "off"
    api_max_body_mb: int = Field(default=25, ge=1, le=200)

    # --- provenance: C2PA Content Credentials and the watermark on every image ---
    c2pa_cert: Path | None = None  # a PEM chain (signing certificate first); unset: a local CA
    c2pa_key: Path | None = None  # its private key (ES256 or Ed25519)
    c2pa_include_prompt: bool = False  # write the prompt and user id into manifests
    visible_mark: bool = False  # a small corner badge, as Bing Image Creator does

    # --- jobs: quotas and metrics ---
    quota_concurrent_jobs: int | None = Field(default=2, ge=0)  # per user; 0 = unlimited
    quota_images_per_minute: int | None = Field(default=None, ge=1)  # per user
    quota_images_per_day: int | None = Field(default=None, ge=1)  # per user
    quota_tenant_images_per_minute: int | None = Field(default=None, ge=1)
    quota_tenant_images_per_day: int | None = Field(default=None, ge=1)
    quota_exempt: str = ""  # comma-separated user ids (as channels report them)
    metrics: Literal["on", "off"] = "on"  # GET /metrics (Prometheus text format)

    # --- safety gate ---
    safety_text_backend: Literal["local", "openai", "azure"] = "local"
    safety_image_backend: Literal["nudenet", "openai", "azure", "none"] = "nudenet"
    safety_policy: Path | None = None  # a policy JSON; default: safety/data/policy.json
    safety_audit_path: Path | None = None  # default: <data dir>/safety-audit.jsonl
    safety_audit_salt: str = ""
    safety_strictness: str | None = None  # relaxed | standard | strict (per deployment)
    safety_tenant_strictness: dict[str, str] = Field(default_factory=dict)  # JSON: {tenant: level}
    safety_openai_base_url: str = "https://api.openai.com/v1"
    safety_openai_api_key: str = ""
    safety_azure_endpoint: str = ""
    safety_azure_key: str = ""
    # What someone writing about self-harm is told (empty: the built-in international text
    # pointing to findahelpline.com and the local emergency number).
    safety_self_harm_message: str = ""
    safety_image_device: Literal["auto", "cpu", "cuda"] = "auto"  # NudeNet: CUDA when available
    safety_text_cache_size: int = Field(default=4096, ge=0)  # text verdicts kept (0 = off)
    # The only way to switch the gate off; logged loudly at start-up.
    dangerously_disable_safety: bool = False

    # --- Bot Framework (their own names, no prefix) ---
    microsoft_app_id: str = Field(
        default="", validation_alias=AliasChoices("MicrosoftAppId", "EASEL_MICROSOFT_APP_ID")
    )
    microsoft_app_password: str = Field(
        default="",
        validation_alias=AliasChoices("MicrosoftAppPassword", "EASEL_MICROSOFT_APP_PASSWORD"),
    )
    microsoft_app_type: str = Field(
        default="MultiTenant",
        validation_alias=AliasChoices("MicrosoftAppType", "EASEL_MICROSOFT_APP_TYPE"),
    )
    microsoft_app_tenant_id: str = Field(
        default="",
        validation_alias=AliasChoices("MicrosoftAppTenantId", "EASEL_MICROSOFT_APP_TENANT_ID"),
    )
    # Where the Bot Framework publishes its token-signing keys. Only tests and sovereign
    # clouds change it.
    bot_openid_metadata_url: str | None = Field(
        default=None, validation_alias=AliasChoices("EASEL_BOT_OPENID_METADATA_URL",
                                                    "bot_openid_metadata_url"))

    # --- Discord (their own names) ---
    discord_application_id: str = Field(
        default="", validation_alias=AliasChoices("DISCORD_APPLICATION_ID")
    )
    discord_public_key: str = Field(default="", validation_alias=AliasChoices("DISCORD_PUBLIC_KEY"))
    discord_bot_token: str = Field(default="", validation_alias=AliasChoices("DISCORD_BOT_TOKEN"))
    discord_api_base: str = "https://discord.com/api/v10"

    @field_validator("image_size")
    @classmethod
    def _check_size(cls, v: str | None) -> str | None:
        if v is not None:
            parse_size(v)
        return v

    @field_validator("discord_public_key")
    @classmethod
    def _check_discord_key(cls, v: str) -> str:
        v = v.strip()
        if v and not re.fullmatch(r"[0-9a-fA-F]{64}", v):
            raise ValueError("DISCORD_PUBLIC_KEY must be the 64 hex characters shown as "
                             "'Public Key' in the Discord developer portal")
        return v

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("EASEL_PUBLIC_URL must be an absolute http(s) URL, e.g. https://easel.example.com")
        return v.rstrip("/")

    @field_validator("microsoft_app_type")
    @classmethod
    def _check_app_type(cls, v: str) -> str:
        allowed = {"multitenant": "MultiTenant", "singletenant": "SingleTenant",
                   "userassignedmsi": "UserAssignedMSI"}
        key = v.strip().lower()
        if key not in allowed:
            raise ValueError("MicrosoftAppType must be MultiTenant, SingleTenant or UserAssignedMSI")
        return allowed[key]

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.microsoft_app_id:
            if self.microsoft_app_type != "UserAssignedMSI" and not self.microsoft_app_password:
                raise ValueError("MicrosoftAppId is set but MicrosoftAppPassword is empty")
            if self.microsoft_app_type in ("SingleTenant", "UserAssignedMSI") and not self.microsoft_app_tenant_id:
                raise ValueError(f"MicrosoftAppType={self.microsoft_app_type} needs MicrosoftAppTenantId")
        if self.runner == "ray" and not self.redis_url:
            raise ValueError("EASEL_RUNNER=ray needs EASEL_REDIS_URL: job records and delivery "
                             "claims live in Redis, so a restarted or second bot process can "
                             "finish and deliver every job exactly once")
        if self.image_store == "redis" and not self.redis_url:
            raise ValueError("EASEL_IMAGE_STORE=redis needs EASEL_REDIS_URL")
        if self.rewriter == "openai" and not (self.llm_base_url and self.llm_model):
            raise ValueError("EASEL_REWRITER=openai needs EASEL_LLM_BASE_URL and EASEL_LLM_MODEL")
        if self.describe_model and not self.llm_base_url:
            raise ValueError("EASEL_DESCRIBE_MODEL needs EASEL_LLM_BASE_URL (an OpenAI-compatible "
                             "server with that vision model)")
        if self.rewriter == "transformers" and not self.llm_model:
            raise ValueError("EASEL_REWRITER=transformers needs EASEL_LLM_MODEL (a folder or hub id)")
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.microsoft_app_id)

    @property
    def web_chat_enabled(self) -> bool:
        if self.web_chat != "auto":
            return self.web_chat == "on"
        return not (self.microsoft_app_id or self.discord_public_key)

    def quota_exempt_users(self) -> frozenset[str]:
        return frozenset(u.strip() for u in self.quota_exempt.split(",") if u.strip())

    def default_size(self) -> tuple[int, int] | None:
        return parse_size(self.image_size) if self.image_size else None

    @staticmethod
    def environment() -> Mapping[str, str]:
        """The process environment, for the secrets an engines file names by variable
        (`api_key_env`): read here, like every other setting, and never logged. `.env`
        fills what the environment leaves unset, as it does for the settings."""
        from dotenv import dotenv_values

        file_values = {k: v for k, v in dotenv_values(".env").items() if v is not None}
        return {**file_values, **os.environ}


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings, turning pydantic's report into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"  - {where}: {msg}")
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from None
