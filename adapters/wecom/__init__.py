"""WeCom customer-service plug-in (企业微信 微信客服, the ``kf`` API).

Settings ``WECOM_CORP_ID``, ``WECOM_SECRET`` (the 微信客服 secret),
``WECOM_TOKEN`` and ``WECOM_AES_KEY`` (the callback's Token and EncodingAESKey;
all four enable it), ``WECOM_API_BASE_URL``, and the sync's tuning
(``WECOM_REPLY_BUDGET_S``, ``WECOM_SYNC_PAGE_SIZE``, ``WECOM_SYNC_LOCK_TTL_S``,
``WECOM_SYNC_MAX_ATTEMPTS``). Its limits (48 hours, 5 messages per customer
message) are :data:`adapters.wecom.window.LIMITS`. Its staff side,
``ESCALATION_CHANNEL=...,wecom:queue`` (or ``wecom:<servicer userid>``), hands
each escalated WeCom chat over to WeCom's own agents with ``kf/service_state/trans``.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from bot.channels import Channel, Platform, StaffSide
from bot.escalation.staff import AttachableStaff
from bot.host import Host
from bot.settings import PlatformSettings


class WeComSettings(PlatformSettings):
    """The corp's kf credentials, the callback's secrets, the API endpoint and the sync."""

    model_config = SettingsConfigDict(env_prefix="WECOM_", extra="ignore")

    corp_id: str | None = None
    secret: SecretStr | None = None
    token: SecretStr | None = None
    aes_key: SecretStr | None = None
    api_base_url: str = "https://qyapi.weixin.qq.com"
    reply_budget_s: float = Field(default=4.0, gt=0)  # WeCom waits 5 s for the callback
    sync_page_size: int = Field(default=100, ge=1, le=1000)  # sync_msg's limit: at most 1000
    sync_lock_ttl_s: float = Field(default=60.0, gt=0)  # renewed while a drain runs
    sync_max_attempts: int = Field(default=5, ge=1)  # passes over a failing page


def enabled(settings: WeComSettings) -> bool:
    """WeCom needs the corp id, the secret, and the callback's token and AES key."""
    return bool(settings.corp_id and settings.secret and settings.token and settings.aes_key)


def _build(settings: WeComSettings, host: Host) -> Channel:
    from adapters.wecom.channel import WeComChannel

    return WeComChannel(settings, host)


def _staff(target: str, host: Host, channel: Channel | None) -> AttachableStaff:
    from adapters.wecom.channel import WeComChannel
    from adapters.wecom.staff import WeComHandover

    assert isinstance(channel, WeComChannel), "the WeCom hand-over runs on its channel"
    return WeComHandover(channel.api, target)


PLATFORM = Platform(
    name="wecom",
    settings=WeComSettings,
    enabled=enabled,
    build=_build,
    staff=StaffSide(build=_staff, id_hint="queue or servicer userid", title="WeCom"),
)
