"""Structured JSON logs with personal data masked and secrets kept out.

Every record passes through :class:`SafeFilter`, which masks PII in the
message and in string fields, and replaces any configured secret value with
``***``. Conversation and ticket ids ride along as ``extra`` fields.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from bot.pii import mask_pii

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# uvicorn's copy of the message with terminal colour codes: noise in a log file
_DROPPED = ("color_message",)


class SafeFilter(logging.Filter):
    """Mask PII and scrub secrets in a record, in place."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def clean(self, text: str) -> str:
        """The text with secrets replaced and PII masked."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return mask_pii(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, clean it, and drop the raw args."""
        for key in _DROPPED:
            record.__dict__.pop(key, None)
        if isinstance(record.args, tuple):
            record.args = tuple(_without_payload(arg) for arg in record.args)
        record.msg = self.clean(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.clean(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _without_payload(arg: object) -> object:
    """A WebSocket frame (logged at DEBUG by uvicorn) by its kind and size, not its text.

    The frame's own rendering cuts long texts in the middle, which can cut a
    card number past what masking recognises; the text was the customer's anyway.
    """
    opcode, data = getattr(arg, "opcode", None), getattr(arg, "data", None)
    if opcode is None or not isinstance(data, bytes | bytearray | memoryview):
        return arg
    return f"{getattr(opcode, 'name', opcode)} [{len(data)} bytes]"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the (already cleaned) record."""
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                out[key] = value
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(
    *,
    level: str = "INFO",
    json_lines: bool = True,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install the safe filter and the formatter on the root logger's only handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(SafeFilter(secrets))
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "urllib3", "asyncio", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
