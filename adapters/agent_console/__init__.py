"""The built-in agent console: a web inbox at ``/agent``, served by every replica.

It is a staff channel like Slack's and DingTalk's (:class:`ConsoleStaff`),
using the same ticket store, claim script and relay through the shared
:class:`bot.escalation.desk.Desk`. Agents are managed with ``bot agents``.

* ``agents.py``: agents, sessions, failed-login limit (Redis, argon2)
* ``auth.py``: cookies, CSRF, the guard on every route
* ``feed.py``: ticket threads and live events across replicas (Redis pub/sub)
* ``staff.py``: the staff-channel side; ``actions.py``: the ticket API
* ``views.py``: queue rows and ticket views; ``routes.py``: the HTTP surface
* ``static/``: the page and the sign-in form (plain HTML and a little JS)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from adapters.agent_console.actions import TicketActions
from adapters.agent_console.agents import AgentStore
from adapters.agent_console.feed import ConsoleFeed
from adapters.agent_console.routes import ConsoleRoutes
from adapters.agent_console.staff import ConsoleStaff

if TYPE_CHECKING:
    from bot.runtime import Runtime

__all__ = ["AgentStore", "ConsoleStaff", "agent_store", "build_console"]
log = logging.getLogger(__name__)


def agent_store(runtime: Runtime) -> AgentStore:
    """The agents of this bot's Redis."""
    s = runtime.settings
    return AgentStore(runtime.redis, s.redis_prefix, session_ttl_s=s.agent_session_ttl_s)


def build_console(runtime: Runtime) -> ConsoleStaff:
    """The console staff channel, its routes added to the runtime's app."""
    feed = ConsoleFeed(runtime.redis, runtime.settings.redis_prefix)
    staff = ConsoleStaff(feed)
    actions = TicketActions(
        feed=feed, desk_of=lambda: staff.desk, max_text_chars=runtime.settings.max_text_chars
    )
    routes = ConsoleRoutes(agents=agent_store(runtime), feed=feed, actions=actions)
    runtime.add_routes(routes.routes())
    runtime.add_service("agent-console", start=lambda: _hint(runtime), stop=_nothing)
    return staff


async def _hint(runtime: Runtime) -> None:
    """Tickets go to the console; say how to let someone in when nobody can sign in yet."""
    if not await agent_store(runtime).names():
        log.warning(
            "no agent can sign in to the agent console at /agent yet: run `bot agents add NAME`"
        )


async def _nothing() -> None:
    """The console holds no connection of its own (each page's stream closes with it)."""
