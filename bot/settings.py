"""Typed settings: environment variables over ``<config dir>/bot.yml`` over defaults.

:class:`Settings` are the process's own. Each platform plug-in has its own model,
a :class:`PlatformSettings` with its env prefix (``WECHAT_TOKEN`` is the field
``token`` of the WeChat model; in ``bot.yml`` it is ``wechat_token``). A platform
is enabled exactly when its credentials are set. Every platform base URL is a
setting whose default is the real endpoint, so tests and local try-outs point
them at fakes.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from bot.paths import resolve_config_dir, resolve_data_dir


class RateLimitRule(BaseModel):
    """A per-user limit: ``per_minute`` sustained, ``burst`` at once."""

    per_minute: int = Field(default=20, gt=0)
    burst: int = Field(default=5, gt=0)


class Settings(BaseSettings):
    """Everything the bot reads at start-up. See README "Settings"."""

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    # where things are
    config_dir: Path = Field(default_factory=resolve_config_dir, alias="BOT_CONFIG")
    data_dir: Path = Field(default_factory=resolve_data_dir, alias="BOT_DATA_DIR")

    # serving
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    max_body_bytes: int = 1_000_000
    max_text_chars: int = 4000
    shutdown_drain_s: float = 10.0
    # Slack and DingTalk are acked once the turn ends or this budget runs out (Slack waits 3 s)
    ack_budget_s: float = 2.5
    # A turn acked before it ended and then failed is run again here (bot/late.py): no
    # platform retry will come. Pauses double from the first: 2+4+...+64 s, about 2 min.
    late_retry_s: float = Field(default=2.0, gt=0)
    late_retries: int = Field(default=6, ge=0)
    # While even the fastest turn of the last 0.1 s took longer than this, new messages get
    # 503 / no ack and the platform retries later (bot/admission.py); per platform in
    # admission_targets_ms. Well under the platforms' deadlines (Slack 3 s, WeChat 5 s).
    admission_target_ms: int = Field(default=500, ge=1)
    admission_targets_ms: dict[str, int] = Field(default_factory=dict)
    # a memory guard: past this many turns running, new messages are refused the same way
    max_in_flight: int = Field(default=200, ge=1)
    # bot serve's worker processes (None: the number of cores); see service/cli/workers.py
    workers: int | None = Field(default=None, ge=1)
    # how many of a replica's workers open the stream connections (Slack allows 10 per app)
    stream_workers: int = Field(default=1, ge=1)

    # redis and conversation state
    redis_url: str | None = None
    redis_cluster: bool = False  # REDIS_URL names one node of a Redis Cluster
    redis_prefix: str = "bot"
    context_ttl_s: int = 24 * 3600
    history_turns: int = 20
    dedupe_ttl_s: int = 3600
    processing_ttl_s: int = 120
    lock_ttl_ms: int = 30_000
    lock_wait_ms: int = 60_000
    replica_heartbeat_s: float = 1.0
    rate_limit: RateLimitRule = RateLimitRule()
    rate_limits: dict[str, RateLimitRule] = Field(default_factory=dict)

    # NLU
    model_dir: Path | None = None
    nlu_confidence_threshold: float = 0.5
    nlu_cache_size: int = Field(default=4096, ge=0)  # parses of repeated texts kept per process
    # a bot serve that had to train its quick model first then fine-tunes the better one in
    # the background and swaps it in (nlu/loader.py: fine_tune_current)
    fine_tune_after_warm_up: bool = True

    # human escalation
    # staff channels, comma-separated: console (the web console at /agent), or a platform's
    # as <platform>:<id> (slack:C0123, dingtalk:cidXXXX); empty: none (customers are told
    # no agent can be reached here). Parsed by service/escalation.py against the registry.
    escalation_channel: str | None = "console"
    escalation_contact: str = ""  # how to reach a person when no staff channel is usable
    agent_session_ttl_s: int = 8 * 3600  # an agent console sign-in lasts this long idle
    escalation_unclaimed_min: float = 5  # re-ping the staff channel, update the customer
    escalation_agent_idle_min: float = 10  # remind the agent who claimed and has not replied
    escalation_customer_idle_min: float = 30  # resolve automatically
    escalation_window_warn_min: float = 60  # warn before a reply window closes (WeChat: 48 h)
    business_hours: str = "09:00-21:00"  # when agents answer; outside, tickets wait
    business_timezone: str = "Asia/Shanghai"
    escalation_wait_min: int = 5  # the wait the customer is told
    escalation_transcript_lines: int = 10  # last lines of the conversation on the ticket
    escalation_mask_pii: bool = True  # mask phones, ids, cards, e-mail in ticket text for agents
    escalation_satisfaction: bool = True  # ask the customer for a 1-5 score after a resolve

    # durable records (SQLite under the data dir unless DATABASE_URL is set)
    database_url: str | None = None
    records_queue_size: int = 10_000

    # demo order backend started by `bot serve` for the bundled bot
    demo_backend: bool = True
    backend_base_url: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments, then the environment, then the YAML file."""
        return init_settings, env_settings, _yaml_source(settings_cls)

    # -- derived views -------------------------------------------------------

    def rate_limit_for(self, platform: str) -> RateLimitRule:
        """The per-platform override, or the default rule."""
        return self.rate_limits.get(platform, self.rate_limit)


# The YAML file lives in the config dir, which is itself a setting: load_settings
# resolves it first and hands it to the source through this variable.
_CONFIG_DIR: ContextVar[Path | None] = ContextVar("config_dir", default=None)


def _yaml_source(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource:
    config_dir = _CONFIG_DIR.get() or resolve_config_dir()
    return YamlConfigSettingsSource(settings_cls, yaml_file=config_dir / "bot.yml")


def load_settings(
    config_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings; ``config_dir``/``data_dir`` override ``BOT_CONFIG``/``BOT_DATA_DIR``."""
    resolved = resolve_config_dir(config_dir)
    if config_dir is not None:
        overrides["BOT_CONFIG"] = resolved
    if data_dir is not None:
        overrides["BOT_DATA_DIR"] = resolve_data_dir(data_dir)
    token = _CONFIG_DIR.set(resolved)
    try:
        return Settings(**overrides)
    finally:
        _CONFIG_DIR.reset(token)


class PlatformSettings(BaseSettings):
    """Base of a platform plug-in's settings: ``<PREFIX>_<FIELD>`` in the environment,
    ``<prefix>_<field>`` in ``bot.yml``, the field's default otherwise.

    A subclass sets ``model_config = SettingsConfigDict(env_prefix="WECHAT_", ...)``.
    """

    model_config = SettingsConfigDict(extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments, then the environment, then the YAML file's prefixed keys."""
        return init_settings, env_settings, _prefixed_yaml(settings_cls)


P = TypeVar("P", bound=PlatformSettings)


def load_platform_settings(model: type[P], config_dir: Path) -> P:
    """``model`` from the environment and ``<config_dir>/bot.yml`` (the same file as Settings)."""
    token = _CONFIG_DIR.set(config_dir)
    try:
        return model()
    finally:
        _CONFIG_DIR.reset(token)


def _prefixed_yaml(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource:
    """The keys of ``bot.yml`` that start with the model's env prefix, without it."""
    prefix = str(settings_cls.model_config.get("env_prefix", "")).lower()
    path = (_CONFIG_DIR.get() or resolve_config_dir()) / "bot.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        data = {}
    found = {
        str(key)[len(prefix) :]: value
        for key, value in (data.items() if isinstance(data, dict) else [])
        if prefix and str(key).lower().startswith(prefix)
    }
    return InitSettingsSource(settings_cls, init_kwargs=found)
