"""Slack plug-in (slack-bolt, async): Events API over HTTP, or Socket Mode.

Settings ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` (both enable it),
``SLACK_APP_TOKEN`` (Socket Mode) and ``SLACK_API_BASE_URL``. Its staff side is
``ESCALATION_CHANNEL=slack:<channel id>``. slack-bolt is imported only when the
channel is built.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from bot.channels import Channel, Platform, StaffSide
from bot.escalation.staff import AttachableStaff
from bot.host import Host
from bot.settings import PlatformSettings


class SlackSettings(PlatformSettings):
    """The Slack app's tokens and API endpoint."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", extra="ignore")

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_base_url: str = "https://slack.com/api/"


def enabled(settings: SlackSettings) -> bool:
    """Slack needs a bot token and a signing secret."""
    return bool(settings.bot_token and settings.signing_secret)


def _build(settings: SlackSettings, host: Host) -> Channel:
    from adapters.slack.channel import SlackChannel

    return SlackChannel(settings, host)


def _staff(channel_id: str, host: Host, channel: Channel | None) -> AttachableStaff:
    from adapters.slack.channel import SlackChannel
    from adapters.slack.staff import SlackStaff

    assert isinstance(channel, SlackChannel), "the Slack staff side runs on the Slack channel"
    return SlackStaff(channel, channel_id)


PLATFORM = Platform(
    name="slack",
    settings=SlackSettings,
    enabled=enabled,
    build=_build,
    staff=StaffSide(build=_staff, id_hint="channel id", title="Slack"),
)
