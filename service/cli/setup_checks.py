"""What ``bot check-config`` verifies beyond the dialog: staff channels, Redis, the model.

Each check returns the problems it found, one line each; an empty list means
it will work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from adapters.registry import STAFF_DESKS
from bot.errors import BotError
from bot.redis_conn import connect
from bot.settings import Settings
from service.escalation import staff_targets
from service.plugins import enabled_platforms

REDIS_PING_TIMEOUT_S = 5.0


def escalation_problems(settings: Settings) -> list[str]:
    """Staff channels that are malformed, unknown, or on a platform that is not enabled."""
    try:
        targets = staff_targets(settings.escalation_channel)
    except ValueError as exc:
        return [f"ESCALATION_CHANNEL: {exc}"]
    enabled = enabled_platforms(settings)
    return [
        f"ESCALATION_CHANNEL {target}: {target.kind} is not enabled (set its credentials)"
        for target in targets
        if target.kind not in STAFF_DESKS and target.kind not in enabled
    ]


def redis_problems(settings: Settings) -> list[str]:
    """Whether Redis answers a PING (the embedded server is started and stopped for it)."""
    try:
        asyncio.run(_ping(settings))
    except Exception as exc:  # whatever the cause, the bot cannot run on this Redis
        what = "REDIS_URL" if settings.redis_url else "the embedded Redis"
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return [f"redis: {what} does not answer ({detail})"]
    return []


async def _ping(settings: Settings) -> None:
    handle = connect(
        redis_url=settings.redis_url, data_dir=settings.data_dir, cluster=settings.redis_cluster
    )
    try:
        await asyncio.wait_for(handle.client.ping(), REDIS_PING_TIMEOUT_S)
    finally:
        await handle.close()


def model_problems(settings: Settings, needed: Iterable[str]) -> tuple[Path | None, list[str]]:
    """The model ``bot serve`` would load, and what is wrong with it.

    No model yet is no problem: ``bot serve`` trains one from the bot's data.
    A model lacking an intent that a flow triggers on is: that flow never starts.
    """
    from nlu.loader import usable_model_dir
    from nlu.model import read_labels

    try:
        directory = usable_model_dir(settings)
        if directory is None:
            return None, []
        if not directory.is_dir():
            return directory, [f"MODEL_DIR {directory}: no such directory"]
        labels = set(read_labels(directory))
    except BotError as exc:
        return settings.model_dir, [f"model: {exc}"]
    return directory, [
        f"model {directory}: has no intent {name!r}, which the dialog triggers on "
        "(retrain it: bot train)"
        for name in sorted(set(needed) - labels)
    ]
