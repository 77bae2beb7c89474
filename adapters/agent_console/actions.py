"""The console's ticket API: the queue, one ticket, and what an agent does with it.

Every action goes through the shared :class:`bot.escalation.desk.Desk`, the
same code Slack's buttons and DingTalk's commands reach, so a claim is the one
claim script and a reply is the one relay. Bad input (an empty or oversized
text, a ticket someone else holds, a closed ticket) is refused here with an
error code the page shows in the agent's language, and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.agent_console.agents import Session
from adapters.agent_console.feed import ConsoleFeed
from adapters.agent_console.views import VIEWS, detail, in_view, row
from bot.errors import BadRequest
from bot.escalation.desk import CLOSE_WORDS, Desk, is_note
from bot.escalation.tickets import Ticket
from bot.http.errors import read_body

QUEUE_MAX = 200


def agent_id(session: Session) -> str:
    """The agent as tickets and records name them (the channel is part of the id)."""
    return f"console:{session.agent}"


def error(code: str, http_status: int, /, **extra: Any) -> Response:
    """A refusal the page turns into a sentence (``extra`` fills its placeholders)."""
    return JSONResponse({"error": code, **extra}, status_code=http_status)


class TicketActions:
    """Queue, ticket view, claim, reply, note, resolve."""

    def __init__(self, *, feed: ConsoleFeed, desk_of: Any, max_text_chars: int) -> None:
        self.feed = feed
        self._desk_of = desk_of  # the Desk is attached after the routes are built
        self.max_text_chars = max_text_chars

    @property
    def desk(self) -> Desk:
        desk: Desk | None = self._desk_of()
        assert desk is not None, "console not attached to a desk"
        return desk

    async def queue(self, request: Request, session: Session) -> Response:
        view = request.query_params.get("view", "unclaimed")
        if view not in VIEWS:
            return error("bad_view", 400)
        me = agent_id(session)
        tickets = [t for t in await self.desk.tickets.all() if in_view(t, view, me)][:QUEUE_MAX]
        threads = await self.feed.recent([t.id for t in tickets])
        return JSONResponse({"tickets": [row(t, threads[t.id]) for t in tickets]})

    async def show(self, request: Request, session: Session) -> Response:
        ticket = await self._ticket(request)
        if ticket is None:
            return error("unknown", 404)
        thread = await self.feed.thread(ticket.id)
        limits = await self.desk.allowance(ticket)
        return JSONResponse(detail(ticket, thread, limits))

    async def claim(self, request: Request, session: Session) -> Response:
        ticket_id = request.path_params["ticket"]
        me = agent_id(session)
        answer = await self.desk.claim(ticket_id, agent=me, agent_name=session.agent)
        ticket = await self.desk.tickets.get(ticket_id)
        if ticket is None:
            return error("unknown", 404)
        if ticket.agent != me:
            code = "claimed_by_other" if ticket.status == "claimed" else "not_open"
            return error(code, 409, holder=ticket.agent_name, status=ticket.status, message=answer)
        return JSONResponse({"ok": True, "ticket": row(ticket, [])})

    async def reply(self, request: Request, session: Session) -> Response:
        ticket, text, refused = await self._writable(request)
        if refused is not None:
            return refused
        assert ticket is not None
        if is_note(text):
            return await self._note(ticket, session, text)
        if text.lower() in CLOSE_WORDS:
            return await self._resolve(ticket, session)
        me = agent_id(session)
        if ticket.status != "claimed" or ticket.agent != me:
            return self._not_yours(ticket)
        # the desk shows it in the thread (ConsoleStaff.agent_said) and in Slack or DingTalk
        await self.desk.message(
            ticket, agent=me, agent_name=session.agent, text=text, via="console"
        )
        return JSONResponse({"ok": True})

    async def note(self, request: Request, session: Session) -> Response:
        ticket, text, refused = await self._writable(request)
        if refused is not None:
            return refused
        assert ticket is not None
        return await self._note(ticket, session, text)

    async def resolve(self, request: Request, session: Session) -> Response:
        ticket = await self._ticket(request)
        if ticket is None:
            return error("unknown", 404)
        return await self._resolve(ticket, session)

    async def _note(self, ticket: Ticket, session: Session, text: str) -> Response:
        # the note box needs no prefix; the desk keeps a note off the customer's side
        await self.desk.message(
            ticket,
            agent=agent_id(session),
            agent_name=session.agent,
            text=text if is_note(text) else f"note: {text}",
            via="console",
        )
        return JSONResponse({"ok": True})

    async def _resolve(self, ticket: Ticket, session: Session) -> Response:
        if ticket.status not in ("pending", "claimed"):
            return error("not_open", 409, status=ticket.status)
        await self.desk.resolve(ticket, agent=agent_id(session))
        if ticket.status != "resolved":  # someone else closed it at the same instant
            return error("not_open", 409, status=ticket.status)
        return JSONResponse({"ok": True})

    def _not_yours(self, ticket: Ticket) -> Response:
        if ticket.status == "claimed":
            return error("claimed_by_other", 409, holder=ticket.agent_name)
        if ticket.status == "pending":
            return error("not_claimed", 409)
        return error("not_open", 409, status=ticket.status)

    async def _ticket(self, request: Request) -> Ticket | None:
        return await self.desk.tickets.get(request.path_params["ticket"])

    async def _writable(self, request: Request) -> tuple[Ticket | None, str, Response | None]:
        """The ticket and the text of a reply or note, or the refusal."""
        text = await self._text(request)
        if text is None:
            return None, "", error("bad_request", 400)
        if not text:
            return None, "", error("empty", 400)
        if len(text) > self.max_text_chars:
            return None, "", error("too_long", 413, limit=self.max_text_chars)
        ticket = await self._ticket(request)
        if ticket is None:
            return None, "", error("unknown", 404)
        if ticket.status not in ("pending", "claimed"):
            return None, "", error("not_open", 409, status=ticket.status)
        return ticket, text, None

    async def _text(self, request: Request) -> str | None:
        raw = await read_body(request, max_bytes=self.max_text_chars * 4 + 1024)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise BadRequest("the body is not JSON") from None
        text = body.get("text") if isinstance(body, dict) else None
        return text.strip() if isinstance(text, str) else None
