"""Feishu / Lark plug-in: Events v2 over HTTP, or the SDK's long connection.

Settings ``FEISHU_APP_ID`` and ``FEISHU_APP_SECRET`` (both enable it),
``FEISHU_VERIFICATION_TOKEN`` and ``FEISHU_ENCRYPT_KEY`` (the webhook's
credentials), ``FEISHU_MODE`` (``http`` or ``ws``) and ``FEISHU_API_BASE_URL``
(``https://open.larksuite.com`` for Lark). Its staff side is
``ESCALATION_CHANNEL=feishu:<chat_id>``. lark-oapi is imported only when the
channel is built.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from bot.channels import Channel, Platform, StaffSide
from bot.escalation.staff import AttachableStaff
from bot.host import Host
from bot.settings import PlatformSettings


class FeishuSettings(PlatformSettings):
    """The Feishu app's credentials, its connection mode and API endpoint."""

    model_config = SettingsConfigDict(env_prefix="FEISHU_", extra="ignore")

    app_id: str | None = None
    app_secret: SecretStr | None = None
    verification_token: SecretStr | None = None
    encrypt_key: SecretStr | None = None
    mode: str = "http"
    api_base_url: str = "https://open.feishu.cn"


def enabled(settings: FeishuSettings) -> bool:
    """Feishu needs an app id and secret."""
    return bool(settings.app_id and settings.app_secret)


def _build(settings: FeishuSettings, host: Host) -> Channel:
    from adapters.feishu.channel import FeishuChannel

    return FeishuChannel(settings, host)


def _staff(chat_id: str, host: Host, channel: Channel | None) -> AttachableStaff:
    from adapters.feishu.channel import FeishuChannel
    from adapters.feishu.staff import FeishuStaff

    assert isinstance(channel, FeishuChannel), "the Feishu staff side runs on the Feishu channel"
    return FeishuStaff(channel, chat_id)


PLATFORM = Platform(
    name="feishu",
    settings=FeishuSettings,
    enabled=enabled,
    build=_build,
    staff=StaffSide(build=_staff, id_hint="chat_id", title="Feishu"),
)
