"""Confirm buttons act once: pressed again, or after their flow ended, they say so."""

from __future__ import annotations

import uuid

import pytest

from bot.models import Address, InboundMessage, MessageKind, Reply
from bot.runtime import Runtime
from dialog import testing


@pytest.fixture
def runtime(bundled_bot: Runtime) -> Runtime:
    return bundled_bot


class Chat:
    """One customer on the console, sending text or pressing buttons."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        user = f"buttons-{uuid.uuid4().hex[:8]}"
        self.address = Address(platform="console", conversation_id=user, user_id=user)

    async def send(self, text: str, *, payload: str | None = None) -> list[Reply]:
        sink = testing.CaptureSink()
        msg = InboundMessage(
            platform="console",
            message_id=uuid.uuid4().hex,
            address=self.address,
            text=text,
            kind=MessageKind.ACTION if payload else MessageKind.TEXT,
            payload=payload,
        )
        await self.runtime.pipeline.handle(msg, sink)
        return sink.replies


def _button(replies: list[Reply], title: str) -> str:
    return next(b.payload for r in replies for b in r.buttons if b.title == title)


def _text(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


async def test_a_confirm_button_pressed_twice_acts_once(runtime: Runtime) -> None:
    chat = Chat(runtime)
    await chat.send("开发票 订单20231122003")
    asked = await chat.send("个人")
    confirm = _button(asked, "确认")
    assert confirm.startswith("/affirm#")
    first = _text(await chat.send("确认", payload=confirm))
    assert "INV" in first
    again = _text(await chat.send("确认", payload=confirm))
    assert "已经处理过或已过期" in again and "INV" not in again


async def test_a_button_of_an_answered_confirmation_is_stale_in_english(
    runtime: Runtime,
) -> None:
    chat = Chat(runtime)
    asked = await chat.send("please cancel order 20231122002")
    keep = _button(asked, "Keep the order")
    assert "stays as it is" in _text(await chat.send("Keep the order", payload=keep))
    confirm = _button(asked, "Yes, cancel it")
    late = _text(await chat.send("Yes, cancel it", payload=confirm))
    assert "already been handled or has expired" in late
    status = _text(await chat.send("what's the status of order 20231122002"))
    assert "cancelled" not in status and "not shipped yet" in status
