"""The local console channel behind ``bot chat``: stdin in, stdout out.

Not a plug-in of the registry: the composition root always adds it, with the
writer its command wants (``bot chat`` prints, ``bot test`` stays quiet).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

from starlette.routing import BaseRoute

from bot.channels import Limits
from bot.models import Address, InboundMessage, Reply
from bot.outbound import Capabilities


def render_text(reply: Reply) -> str:
    """Plain-text rendering: buttons and quick replies become a numbered menu."""
    lines = [reply.text]
    if reply.card is not None:
        lines.append(f"[{reply.card.title}] {reply.card.text}".strip())
        lines.extend(f"  {k}: {v}" for k, v in reply.card.fields)
    choices = [b.title for b in reply.buttons] + list(reply.quick_replies)
    lines.extend(f"  {i}. {title}" for i, title in enumerate(choices, 1))
    return "\n".join(line for line in lines if line)


class ConsoleOutbound:
    """Prints replies through ``write`` (stdout by default)."""

    platform: str = "console"
    capabilities: Capabilities = Capabilities(proactive_send=True)

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self._write = write

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Write each reply as text."""
        for reply in replies:
            self._write(render_text(reply))


class ConsoleChannel:
    """The console as a channel: no routes, no connections."""

    name = "console"
    limits = Limits()

    def __init__(self, write: Callable[[str], None] = print) -> None:
        self.outbound = ConsoleOutbound(write)

    def routes(self) -> list[BaseRoute]:
        """The console serves no HTTP."""
        return []

    async def start(self) -> None:
        """Nothing to open."""

    async def stop(self) -> None:
        """Nothing to close."""


def console_message(text: str, *, user: str) -> InboundMessage:
    """A console line as an inbound message of user ``user``."""
    address = Address(platform="console", conversation_id=user, user_id=user, account="local")
    return InboundMessage(
        platform="console",
        message_id=uuid.uuid4().hex,
        address=address,
        text=text,
        user_name=user,
    )
