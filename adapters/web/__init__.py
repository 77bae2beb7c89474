"""The web chat channel: the local default, with a page at ``/``."""

from __future__ import annotations

from adapters.web.channel import WebChannel
from bot.settings import Settings


def build_channel(settings: Settings) -> WebChannel:
    """The web chat for ``settings``."""
    return WebChannel(settings)
