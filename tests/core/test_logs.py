"""Logs are JSON lines with PII masked and secrets scrubbed, wherever the text comes from."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import configure_logging
from bot.pii import mask_pii

PII = {
    "phone": "13812345678",
    "phone_spaced": "+86 138 1234 5678",
    "id_card": "11010519491231002X",
    "bank_card": "6222 0212 3456 7890 123",
    "email": "zhang.san@example.com",
}
SECRET = "xoxb-super-secret-token-123"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(level="DEBUG", json_lines=True, secrets=[SECRET], stream=stream)
    yield stream
    root.handlers[:], root.level = saved[0], saved[1]


def test_message_args_extra_and_exceptions_are_cleaned(log_stream: io.StringIO) -> None:
    log = logging.getLogger("bot.test")
    joined = " ".join(PII.values())
    log.info("customer said %s", joined, extra={"conversation": "wechat:gh:o1", "text": joined})
    log.warning("token is %s", SECRET)
    try:
        raise ValueError(f"bad card {PII['bank_card']}")
    except ValueError:
        log.exception("failed for %s", PII["email"])
    output = log_stream.getvalue()
    for value in [*PII.values(), SECRET]:
        assert value not in output, value
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["conversation"] == "wechat:gh:o1" and lines[0]["level"] == "INFO"
    assert "138****5678" in lines[0]["msg"]
    assert "***" in lines[1]["msg"]
    assert "ValueError" in lines[2]["exc"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("手机13812345678", "手机138****5678"),
        ("身份证11010519491231002X号", "身份证110105********002X号"),
        ("卡号6222021234567890123", "卡号6222 **** **** 0123"),
        ("mail me: li@corp.cn", "mail me: l***@corp.cn"),
        ("订单号20231122001", "订单号20231122001"),  # order numbers are not PII
        ("", ""),
    ],
)
def test_mask_pii(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_websocket_frames_are_logged_by_size_not_text(log_stream: io.StringIO) -> None:
    from websockets.frames import Frame, Opcode

    # the frame's own rendering keeps the ends of a long text and cuts the middle
    text = f"card {PII['bank_card']} " + "padding " * 20
    frame = Frame(Opcode.TEXT, text.encode())
    logging.getLogger("uvicorn.error").debug("< %s", frame)  # as uvicorn logs at DEBUG
    line = json.loads(log_stream.getvalue())
    assert line["msg"] == f"< TEXT [{len(text.encode())} bytes]"


def test_uvicorn_colour_copies_are_dropped(log_stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 42, extra={"color_message": "[\x1b[36m%d\x1b[0m]"}
    )
    line = json.loads(log_stream.getvalue())
    assert line["msg"] == "Started server process [42]"
    assert "color_message" not in line
