"""Dialog edge cases: old contexts, crashing validators, a backend that fails or answers garbage."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from bot.records import Record
from bot.stores.context import decode_context
from dialog.actions import ActionError, Backend
from dialog.config import Action, SlotSpec, Validation
from dialog.slots import InvalidSlot, validate
from nlu.misses import write_misses


def test_context_saved_by_schema_1_loads_with_defaults() -> None:
    old = {
        "schema_version": 1,
        "flow": "return_refund",
        "step": "ask_reason",
        "slots": {"order_id": "20231122003"},
        "stack": [{"flow": "invoice"}],
        "history": [],
    }
    ctx = decode_context("console:local:u", json.dumps(old))
    assert ctx.schema_version == 2 and ctx.mode == "bot" and ctx.ticket_id is None
    assert ctx.flow == "return_refund" and ctx.slots == {"order_id": "20231122003"}
    assert ctx.flow_stack == [{"flow": "invoice"}]


@pytest.mark.parametrize("raw", [b"{not json", b"[]", json.dumps({"schema_version": 99}).encode()])
def test_corrupt_or_future_context_is_replaced(raw: bytes) -> None:
    ctx = decode_context("c", raw)
    assert ctx.flow is None and ctx.history == []


def _boom(value: str) -> str:
    raise RuntimeError("validator bug")


def test_a_validator_that_raises_refuses_the_value_instead_of_crashing() -> None:
    spec = SlotSpec(prompt="ask", validate=Validation(hook="tests.dialog.test_dialog_edges:_boom"))
    with pytest.raises(InvalidSlot):
        validate(spec, "anything")


async def _server(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]


async def test_backend_garbage_timeout_and_refusal_are_action_errors() -> None:
    import asyncio

    async def handler(request: web.Request) -> web.Response:
        if "garbage" in request.path:
            return web.Response(text="<html>oops</html>")
        if "slow" in request.path:
            await asyncio.sleep(2)
        return web.json_response({"error": "订单已发货"}, status=409)

    runner, base = await _server(handler)
    backend = Backend(base, timeout_s=0.3, attempts=1)
    try:
        for path, message in [
            ("/garbage", "garbage"),
            ("/slow", "unreachable"),
            ("/refuse", "订单已发货"),
        ]:
            with pytest.raises(ActionError, match=message):
                await backend.run(Action(path=path, store="x"), {})
        with pytest.raises(ActionError, match="missing"):
            await backend.run(Action(path="/orders/{order_id}", store="x"), {})
    finally:
        await backend.close()
        await runner.cleanup()


def test_export_misses_masks_counts_and_keeps_guesses(tmp_path) -> None:
    def inbound(text: str, intent: str, **data: object) -> Record:
        return Record(
            kind="in", platform="wechat", conversation="c", text=text, intent=intent, data=data
        )

    records = [
        inbound("我的手机１３８１２３４５６７８收不到验证码", "out_of_scope", guess="faq")
    ] * 3
    records += [
        inbound("给我讲个笑话", "chitchat", fallback=True),
        inbound("20231122003", "out_of_scope", answered_slot=True, guess="order_status"),
        inbound("我要退货", "return_refund"),
    ]
    out = tmp_path / "misses.csv"
    assert write_misses(records, out) == 2
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == [
        "text,count,guess,intent",
        "我的手机138****5678收不到验证码,3,faq,",  # full-width digits folded, then masked
        "给我讲个笑话,1,chitchat,",
    ]
