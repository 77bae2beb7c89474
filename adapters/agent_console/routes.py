"""The console's HTTP surface under ``/agent``: sign-in, the page, the API and the live stream.

Only the sign-in form answers without a session; every other route goes
through :func:`adapters.agent_console.auth.guarded`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib import resources
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Route

from adapters.agent_console.actions import TicketActions, agent_id
from adapters.agent_console.agents import AgentStore, Session
from adapters.agent_console.auth import (
    LOGIN_COOKIE,
    PATH,
    SESSION_COOKIE,
    Endpoint,
    Handler,
    guarded,
    login_token,
    same,
    set_cookie,
)
from adapters.agent_console.feed import ConsoleFeed
from bot.http.errors import read_body

LOGIN_FORM_S = 3600
FORM_MAX_BYTES = 4096
# no caching of anything an agent sees; no framing by other sites
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}


def _static(name: str) -> str:
    return resources.files("adapters.agent_console").joinpath(f"static/{name}").read_text("utf-8")


class ConsoleRoutes:
    """Build the routes around the agent store, the feed and the ticket actions."""

    def __init__(self, *, agents: AgentStore, feed: ConsoleFeed, actions: TicketActions) -> None:
        self.agents = agents
        self.feed = feed
        self.actions = actions

    def routes(self) -> list[BaseRoute]:
        g, a = self._guard, self.actions
        api = f"{PATH}/api"
        return [
            Route(f"{PATH}/login", self.login_page, methods=["GET"]),
            Route(f"{PATH}/login", self.login, methods=["POST"]),
            Route(PATH, g(self.page, page=True), methods=["GET"]),
            Route(f"{api}/me", g(self.me), methods=["GET"]),
            Route(f"{api}/logout", g(self.logout), methods=["POST"]),
            Route(f"{api}/events", g(self.events), methods=["GET"]),
            Route(f"{api}/tickets", g(a.queue), methods=["GET"]),
            Route(f"{api}/tickets/{{ticket}}", g(a.show), methods=["GET"]),
            Route(f"{api}/tickets/{{ticket}}/claim", g(a.claim), methods=["POST"]),
            Route(f"{api}/tickets/{{ticket}}/reply", g(a.reply), methods=["POST"]),
            Route(f"{api}/tickets/{{ticket}}/note", g(a.note), methods=["POST"]),
            Route(f"{api}/tickets/{{ticket}}/resolve", g(a.resolve), methods=["POST"]),
        ]

    def _guard(self, handler: Handler, *, page: bool = False) -> Endpoint:
        return guarded(self.agents, handler, page=page)

    async def login_page(self, request: Request) -> Response:
        """The sign-in form, with a fresh double-submit token."""
        token = login_token()
        html = _static("login.html").replace("{{csrf}}", token)
        response = HTMLResponse(html, headers=HEADERS)
        set_cookie(request, response, LOGIN_COOKIE, token, LOGIN_FORM_S)
        return response

    async def login(self, request: Request) -> Response:
        """Check the form token, the failure limit and the password; open a session."""
        form = parse_qs(
            (await read_body(request, max_bytes=FORM_MAX_BYTES)).decode("utf-8", "replace")
        )
        name, password, token = (form.get(k, [""])[0] for k in ("name", "password", "csrf"))
        if not same(token, request.cookies.get(LOGIN_COOKIE, "")):
            return RedirectResponse(f"{PATH}/login?error=csrf", status_code=303)
        ip = request.client.host if request.client else "-"
        if await self.agents.locked(name, ip):
            return RedirectResponse(f"{PATH}/login?error=locked", status_code=303)
        if not await self.agents.verify(name, password):
            await self.agents.failed(name, ip)
            return RedirectResponse(f"{PATH}/login?error=bad", status_code=303)
        await self.agents.succeeded(name)
        session = await self.agents.open_session(name)
        response = RedirectResponse(PATH, status_code=303)
        set_cookie(request, response, SESSION_COOKIE, session.token, self.agents.session_ttl_s)
        response.delete_cookie(LOGIN_COOKIE, path=PATH)
        return response

    async def page(self, request: Request, session: Session) -> Response:
        return HTMLResponse(_static("console.html"), headers=HEADERS)

    async def me(self, request: Request, session: Session) -> Response:
        """Who is signed in, and the token their state-changing requests must carry."""
        return JSONResponse(
            {"agent": session.agent, "id": agent_id(session), "csrf": session.csrf},
            headers={"Cache-Control": "no-store"},
        )

    async def logout(self, request: Request, session: Session) -> Response:
        await self.agents.close_session(session.token)
        response = JSONResponse({"ok": True})
        response.delete_cookie(SESSION_COOKIE, path=PATH)
        return response

    async def events(self, request: Request, session: Session) -> Response:
        """Server-sent events: every ticket change and thread entry, from any replica."""

        async def stream() -> AsyncIterator[str]:
            async with self.feed.follow() as events:
                yield "event: ready\ndata: {}\n\n"  # subscribed: the page may now load state
                async for data in events:
                    yield f"data: {data}\n\n" if data is not None else ": keep-alive\n\n"
                    if await self.agents.session(session.token) is None:
                        yield f"event: signed_out\ndata: {json.dumps({})}\n\n"
                        return

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
