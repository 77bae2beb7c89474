"""The web chat plug-in: the local default, with a page at ``/``; always enabled."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from bot.channels import Channel, Platform
from bot.host import Host
from bot.settings import PlatformSettings


class WebSettings(PlatformSettings):
    """The web chat has no settings of its own (the process's limits apply)."""

    model_config = SettingsConfigDict(env_prefix="WEB_", extra="ignore")


def _build(settings: WebSettings, host: Host) -> Channel:
    from adapters.web.channel import WebChannel

    return WebChannel(host)


PLATFORM = Platform(name="web", settings=WebSettings, enabled=lambda _: True, build=_build)
