"""The bundled bot's conversation scripts, run by the same runner as `bot test`."""

from __future__ import annotations

from pathlib import Path

from bot.runtime import Runtime
from dialog import testing
from service.plugins import platform_names

SCRIPTS = Path(__file__).resolve().parents[1] / "conversations"


async def test_bundled_conversations_pass(bundled_bot: Runtime) -> None:
    conversations = testing.load_scripts([SCRIPTS], platform_names())
    assert len(conversations) >= 40
    outcome = await testing.run(bundled_bot, conversations)
    assert outcome.failed == 0, testing.report(outcome)
    assert outcome.passed == len(conversations)
