"""The built-in agent console: a web inbox at ``/agent``, served by every replica.

It is a staff channel like Slack's and DingTalk's (:class:`ConsoleStaff`),
using the same ticket store, claim script and relay through the shared
:class:`bot.escalation.desk.Desk`. Agents are managed with ``bot agents``.
It is no platform: the registry lists it as the staff side ``console``
(:data:`STAFF`, ``ESCALATION_CHANNEL=console``, the default).

* ``agents.py``: agents, sessions, failed-login limit (Redis, argon2)
* ``auth.py``: cookies, CSRF, the guard on every route
* ``feed.py``: ticket threads and live events across replicas (Redis pub/sub)
* ``staff.py``: the staff-channel side; ``actions.py``: the ticket API
* ``views.py``: queue rows and ticket views; ``routes.py``: the HTTP surface
* ``static/``: the page and the sign-in form (plain HTML and a little JS)
"""

from __future__ import annotations

import logging

from adapters.agent_console.actions import TicketActions
from adapters.agent_console.agents import AgentStore
from adapters.agent_console.feed import ConsoleFeed
from adapters.agent_console.routes import ConsoleRoutes
from adapters.agent_console.staff import ConsoleStaff
from bot.channels import Channel, StaffSide
from bot.escalation.staff import AttachableStaff
from bot.host import Host

__all__ = ["STAFF", "AgentStore", "ConsoleStaff", "agent_store", "build_console"]
log = logging.getLogger(__name__)


def agent_store(host: Host) -> AgentStore:
    """The agents of this bot's Redis."""
    return AgentStore(host.redis, host.keys, session_ttl_s=host.settings.agent_session_ttl_s)


def build_console(host: Host) -> ConsoleStaff:
    """The console staff channel, its routes added to the host's app."""
    feed = ConsoleFeed(host.redis, host.keys)
    staff = ConsoleStaff(feed, agent_store(host))
    actions = TicketActions(
        feed=feed, desk_of=lambda: staff.desk, max_text_chars=host.settings.max_text_chars
    )
    routes = ConsoleRoutes(agents=agent_store(host), feed=feed, actions=actions)
    host.add_routes(routes.routes())
    host.add_service("agent-console", start=lambda: _hint(host), stop=_nothing)
    return staff


def _staff(target: str, host: Host, channel: Channel | None) -> AttachableStaff:
    return build_console(host)


# ``console`` in ESCALATION_CHANNEL: takes no id, needs no platform
STAFF = StaffSide(build=_staff, title="the agent console")


async def _hint(host: Host) -> None:
    """Tickets go to the console; say how to let someone in when nobody can sign in yet."""
    if not await agent_store(host).names():
        log.warning(
            "no agent can sign in to the agent console at /agent yet: run `bot agents add NAME`"
        )


async def _nothing() -> None:
    """The console holds no connection of its own (each page's stream closes with it)."""
