"""DingTalk plug-in: Stream mode (no public IP needed) or HTTP outgoing mode.

Settings ``DINGTALK_CLIENT_ID`` and ``DINGTALK_CLIENT_SECRET`` (both enable it),
``DINGTALK_MODE`` (``stream`` or ``http``) and ``DINGTALK_API_BASE_URL``. Its
staff side is ``ESCALATION_CHANNEL=dingtalk:<group conversation id>``.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from bot.channels import Channel, Platform, StaffSide
from bot.escalation.staff import AttachableStaff
from bot.host import Host
from bot.settings import PlatformSettings


class DingTalkSettings(PlatformSettings):
    """The DingTalk app's credentials, its connection mode and API endpoint."""

    model_config = SettingsConfigDict(env_prefix="DINGTALK_", extra="ignore")

    client_id: str | None = None
    client_secret: SecretStr | None = None
    mode: str = "stream"
    api_base_url: str = "https://api.dingtalk.com"


def enabled(settings: DingTalkSettings) -> bool:
    """DingTalk needs a client id and secret."""
    return bool(settings.client_id and settings.client_secret)


def _build(settings: DingTalkSettings, host: Host) -> Channel:
    from adapters.dingtalk.channel import DingTalkChannel

    return DingTalkChannel(settings, host)


def _staff(group_id: str, host: Host, channel: Channel | None) -> AttachableStaff:
    from adapters.dingtalk.channel import DingTalkChannel
    from adapters.dingtalk.staff import DingTalkStaff

    assert isinstance(channel, DingTalkChannel), "the DingTalk staff side runs on its channel"
    return DingTalkStaff(channel, group_id)


PLATFORM = Platform(
    name="dingtalk",
    settings=DingTalkSettings,
    enabled=enabled,
    build=_build,
    staff=StaffSide(build=_staff, id_hint="group conversation id", title="DingTalk"),
)
