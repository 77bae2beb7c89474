"""Hand-over to WeCom's own agents: an escalated WeCom chat moves with ``kf/service_state/trans``.

The plug-in interface has no "escalated" hook, so the hand-over is a staff
side: ``ESCALATION_CHANNEL=console,wecom:queue`` shows every ticket in the
console as before and, for a ticket whose customer is on WeCom, moves the
session to WeCom's queue (``service_state`` 2), or to one agent with
``wecom:<userid>`` (3). Tickets of other platforms are no business of this
side. Posts and card updates are for the other staff channels; WeCom's agents
see the chat in their own client.

Once the session is with a WeCom agent, the kf API refuses the bot's sends
(95018), so console agents' replies to that customer fail visibly: name
``wecom`` only where WeCom's agents answer WeCom customers.
"""

from __future__ import annotations

import logging

from adapters.wecom.client import WeComAPI
from bot.errors import DeliveryError
from bot.escalation.desk import Desk
from bot.escalation.tickets import Ticket

log = logging.getLogger(__name__)

QUEUE, SERVICER = 2, 3  # service_state: waiting for an agent, with this agent


class WeComHandover:
    """:class:`bot.escalation.staff.AttachableStaff` that only moves WeCom sessions."""

    def __init__(self, api: WeComAPI, target: str) -> None:
        self._api = api
        self._servicer = "" if target.strip().lower() == "queue" else target.strip()
        self.desk: Desk | None = None

    def attach(self, desk: Desk) -> None:
        """Nothing comes back from WeCom's agents through the desk; kept for the protocol."""
        self.desk = desk

    async def post_ticket(self, ticket: Ticket) -> str:
        """Move a WeCom customer's session to WeCom's agents; other platforms are skipped."""
        address = ticket.address
        if address.get("platform") != "wecom":
            return ""
        state = SERVICER if self._servicer else QUEUE
        try:
            await self._api.transfer(
                str(address["account"]), str(address["user_id"]), state, self._servicer
            )
        except DeliveryError as exc:  # the ticket stands in the other staff channels
            log.error("wecom hand-over failed", extra={"ticket": ticket.id, "code": exc.code})
            raise
        log.info("wecom session handed over", extra={"ticket": ticket.id, "state": state})
        return ""

    async def post(self, ticket: Ticket, text: str) -> None:
        """WeCom's agents read the chat itself."""

    async def update(self, ticket: Ticket) -> None:
        """No card in WeCom to refresh."""
