"""Slack adapter (slack-bolt, async): Events API over HTTP, or Socket Mode."""

from __future__ import annotations

from adapters.slack.channel import SlackChannel
from bot.settings import Settings


def build_channel(settings: Settings) -> SlackChannel:
    """The Slack channel for ``settings`` (bot token and signing secret must be set)."""
    return SlackChannel(settings)
