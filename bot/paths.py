"""Where the bot finds its configuration and keeps its runtime data.

The bundled bot's configuration ships inside the installed package (the
``config`` package), so every ``bot`` command works from any directory.
``--config DIR`` or ``BOT_CONFIG`` points at a user's own bot instead, and
``BOT_DATA_DIR`` says where the embedded Redis and trained models go.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def bundled_config_dir() -> Path:
    """The configuration of the bundled shop bot, found through the package."""
    return Path(str(resources.files("config")))


def resolve_config_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``explicit`` if given, else ``$BOT_CONFIG``, else the bundled bot."""
    chosen = explicit or os.environ.get("BOT_CONFIG")
    return Path(chosen).expanduser().resolve() if chosen else bundled_config_dir()


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``explicit``, else ``$BOT_DATA_DIR``, else ``$XDG_DATA_HOME/csbot``."""
    chosen = explicit or os.environ.get("BOT_DATA_DIR")
    if chosen:
        path = Path(chosen).expanduser()
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "csbot"
    path = path.resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
