"""The composition root: settings in, a fully wired :class:`Runtime` out.

This is the one place that decides which channels, which brain and which
handoff a process runs; ``bot serve``, ``bot chat`` and ``bot test`` all use it.
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.console import ConsoleChannel
from bot.runtime import Runtime
from bot.settings import Settings
from dialog import build_brain
from service.escalation import build_handoff
from service.plugins import add_enabled_platforms


def wire(runtime: Runtime, *, console_write: Callable[[str], None] = print) -> Runtime:
    """Add the channels (the local console, each enabled plug-in), the brain, the handoff."""
    runtime.add_channels([ConsoleChannel(console_write)])
    add_enabled_platforms(runtime)
    runtime.use(brain=build_brain(runtime), handoff=build_handoff(runtime))
    return runtime


def build_runtime(settings: Settings, *, console_write: Callable[[str], None] = print) -> Runtime:
    """Connect to Redis and wire everything for ``settings``."""
    runtime = Runtime.create(settings)
    try:
        return wire(runtime, console_write=console_write)
    except BaseException:
        runtime.redis_handle.abandon()  # a bad configuration must not leave Redis running
        raise
