"""Shared stand-ins of the escalation scenarios."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.turn import Turn


def closed_now(timezone: str = "Asia/Shanghai") -> tuple[str, str]:
    """BUSINESS_HOURS that are closed now, and the opening time they name (``HH:MM``).

    They open two hours from now, for an hour: outside them whatever the hour the
    test runs at (``23:00-00:00`` never opens, and next opens at 23:00 all the same).
    """
    hour = dt.datetime.now(ZoneInfo(timezone)).hour
    opens, closes = (hour + 2) % 24, (hour + 3) % 24
    return f"{opens:02d}:00-{closes:02d}:00", f"{opens:02d}:00"


class Brain:
    """Stands in for the dialog: asks for a human on 转人工, else echoes."""

    async def respond(self, turn: Turn) -> None:
        if turn.message.text == "转人工":
            turn.escalation = "human_agent"
        else:
            turn.say(f"bot:{turn.message.text}")
