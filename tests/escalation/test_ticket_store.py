"""The ticket store's atomic transitions, against real Redis."""

from __future__ import annotations

import asyncio

from bot.escalation.tickets import TicketStore
from bot.keys import Keys


async def _ticket(store: TicketStore):  # type: ignore[no-untyped-def]
    return await store.create(
        conversation="wechat:gh:o1",
        address={"platform": "wechat", "user_id": "o1"},
        reason="human_agent",
        summary={},
        transcript=["user: 转人工"],
    )


async def test_a_resolve_racing_a_claim_never_erases_the_claim(redis_client) -> None:
    store = TicketStore(redis_client, Keys("t"))
    for _ in range(20):
        ticket = await _ticket(store)
        stale_copy = await store.get(ticket.id)  # what the resolving agent had loaded
        assert stale_copy is not None
        (won, _), closed = await asyncio.gather(
            store.claim(ticket.id, agent="UA", agent_name="A"),
            store.close(stale_copy, status="resolved", by="UB"),
        )
        final = await store.get(ticket.id)
        assert final is not None and final.status == "resolved" and closed
        if won:  # the claim landed first: the resolve kept it
            assert final.agent == "UA" and [e["event"] for e in final.events][-2:] == [
                "claimed",
                "resolved",
            ]


async def test_closing_twice_is_refused(redis_client) -> None:
    store = TicketStore(redis_client, Keys("t"))
    ticket = await _ticket(store)
    assert await store.close(ticket, status="resolved", by="UA")
    assert not await store.close(ticket, status="expired", by="timer")
    final = await store.get(ticket.id)
    assert final is not None and final.status == "resolved"
    assert (await store.claim(ticket.id, agent="UC", agent_name="C")) == (False, "resolved")
