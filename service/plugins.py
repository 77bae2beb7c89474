"""The platform plug-ins of this process: their settings, their channels, their staff sides.

Everything here reads the registry (``adapters/registry.py``, looked up on each
call, so a test may register a platform of its own); nothing names a platform.
The local console (``bot chat``) is added by :func:`service.bootstrap.wire`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters import registry
from bot.channels import Channel, Platform, StaffSide
from bot.runtime import Runtime
from bot.settings import PlatformSettings, Settings, load_platform_settings

LOCAL = "console"  # the terminal channel: always there, no settings, no registry entry


def platform_settings(settings: Settings) -> dict[str, PlatformSettings]:
    """Each registered platform's own settings, from the environment and ``bot.yml``."""
    config_dir = settings.config_dir
    return {p.name: load_platform_settings(p.settings, config_dir) for p in registry.PLATFORMS}


def enabled_platforms(settings: Settings) -> list[str]:
    """The local console, then every platform whose settings enable it."""
    loaded = platform_settings(settings)
    return [LOCAL, *(p.name for p in registry.PLATFORMS if p.enabled(loaded[p.name]))]


def platform_names() -> list[str]:
    """Every platform a conversation can be on (``bot test`` scripts may name each)."""
    return [LOCAL, *(p.name for p in registry.PLATFORMS)]


def add_platform(
    runtime: Runtime, platform: Platform[Any], settings: PlatformSettings | None = None
) -> Channel:
    """Build ``platform``'s channel with its own host and register it with ``runtime``.

    ``settings`` defaults to the platform's settings as the environment and
    ``bot.yml`` give them.
    """
    own = settings or load_platform_settings(platform.settings, runtime.settings.config_dir)
    channel = platform.build(own, runtime.host(platform.name))
    runtime.add_channels([channel])
    return channel


def add_enabled_platforms(runtime: Runtime) -> list[Channel]:
    """Every registered platform that its settings enable, in registry order."""
    loaded = platform_settings(runtime.settings)
    enabled = [p for p in registry.PLATFORMS if p.enabled(loaded[p.name])]
    return [add_platform(runtime, p, loaded[p.name]) for p in enabled]


def staff_sides() -> dict[str, StaffSide]:
    """Every staff-channel kind: the staff desks that are no platform, then the platforms'."""
    sides = dict(registry.STAFF_DESKS)
    sides.update({p.name: p.staff for p in registry.PLATFORMS if p.staff is not None})
    return sides


def staff_titles() -> dict[str, str]:
    """Kind -> how staff texts name it ("Slack"), for the kinds whose plug-in says so."""
    return {kind: side.title for kind, side in staff_sides().items() if side.title}


def staff_kinds() -> Mapping[str, str]:
    """Kind -> what its id is ("" for a kind that takes none), for the setting's parser."""
    return {kind: side.id_hint for kind, side in staff_sides().items()}
