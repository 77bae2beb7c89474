"""WeChat Official Account plug-in (wechatpy for crypto and parsing, httpx for the API).

Settings ``WECHAT_TOKEN``, ``WECHAT_APP_ID``, ``WECHAT_APP_SECRET`` (all three
enable it), ``WECHAT_AES_KEY`` (safe mode), ``WECHAT_API_BASE_URL`` and
``WECHAT_REPLY_BUDGET_S``. Its limits (the 48-hour window, 5 messages) are
:data:`adapters.wechat.window.LIMITS`.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from bot.channels import Channel, Platform
from bot.host import Host
from bot.settings import PlatformSettings


class WeChatSettings(PlatformSettings):
    """The official account's credentials and API endpoint."""

    model_config = SettingsConfigDict(env_prefix="WECHAT_", extra="ignore")

    token: SecretStr | None = None
    app_id: str | None = None
    app_secret: SecretStr | None = None
    aes_key: SecretStr | None = None
    api_base_url: str = "https://api.weixin.qq.com"
    reply_budget_s: float = 4.5  # WeChat waits 5 s for the passive reply


def enabled(settings: WeChatSettings) -> bool:
    """WeChat needs a token, an app id and a secret."""
    return bool(settings.token and settings.app_id and settings.app_secret)


def _build(settings: WeChatSettings, host: Host) -> Channel:
    from adapters.wechat.channel import WeChatChannel

    return WeChatChannel(settings, host)


PLATFORM = Platform(name="wechat", settings=WeChatSettings, enabled=enabled, build=_build)
