"""Which channels a process runs: the local ones always, a platform when its credentials are set.

Platform adapters are imported only when enabled, so a bot without Slack
credentials never loads slack-bolt.
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.console import ConsoleChannel
from bot.channels import Channel
from bot.settings import Settings


def build_channels(
    settings: Settings, *, console_write: Callable[[str], None] = print
) -> list[Channel]:
    """Every channel to run, local ones first."""
    from adapters.web import build_channel as web

    channels: list[Channel] = [ConsoleChannel(console_write), web(settings)]
    if settings.wechat_enabled:
        from adapters.wechat import build_channel as wechat

        channels.append(wechat(settings))
    if settings.slack_enabled:
        from adapters.slack import build_channel as slack

        channels.append(slack(settings))
    if settings.dingtalk_enabled:
        from adapters.dingtalk import build_channel as dingtalk

        channels.append(dingtalk(settings))
    return channels
