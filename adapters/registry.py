"""The platform plug-ins, one line each; the composition root reads them from here.

A platform package declares one :class:`~bot.channels.Platform` (settings model,
``enabled``, channel builder, staff side). Adding a platform is its package, a
line in :data:`PLATFORMS`, its dependency in ``pyproject.toml`` and its docs.
The packages import their SDKs only when a channel is built, so a bot without
Slack credentials never loads slack-bolt.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters import dingtalk, feishu, slack, web, wechat, wecom
from adapters.agent_console import STAFF as AGENT_CONSOLE
from bot.channels import Platform, StaffSide

PLATFORMS: tuple[Platform[Any], ...] = (
    web.PLATFORM,
    wechat.PLATFORM,
    slack.PLATFORM,
    dingtalk.PLATFORM,
    wecom.PLATFORM,
    feishu.PLATFORM,
)

# Staff channels that are no platform (named alone in ESCALATION_CHANNEL).
STAFF_DESKS: Mapping[str, StaffSide] = {"console": AGENT_CONSOLE}
