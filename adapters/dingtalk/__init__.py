"""DingTalk adapter: Stream mode (no public IP needed) or HTTP outgoing mode."""

from __future__ import annotations

from adapters.dingtalk.channel import DingTalkChannel
from bot.settings import Settings


def build_channel(settings: Settings) -> DingTalkChannel:
    """The DingTalk channel for ``settings`` (client id and secret must be set)."""
    return DingTalkChannel(settings)
