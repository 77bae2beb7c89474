"""WeChat Official Account adapter (wechatpy for crypto and parsing, httpx for the API)."""

from __future__ import annotations

from adapters.wechat.channel import WeChatChannel
from bot.settings import Settings


def build_channel(settings: Settings) -> WeChatChannel:
    """The WeChat channel for ``settings`` (token, app id and secret must be set)."""
    return WeChatChannel(settings)
