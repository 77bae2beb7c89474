"""The one message model that every adapter maps onto.

Inbound events become :class:`InboundMessage`; everything the bot says is a
:class:`Reply`; and :class:`Address` is the plain, serialisable data an adapter
needs to reach a conversation later (an escalation relay or a timer hours on).

Nothing downstream of an adapter reads ``InboundMessage.raw``: it is kept for
debugging only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class MessageKind(StrEnum):
    """What an inbound message is, independent of platform."""

    TEXT = "text"
    EVENT = "event"  # subscribe, unsubscribe, menu click, join ...
    ACTION = "action"  # a button the user pressed
    MEDIA = "media"  # image, file, video: anything we cannot read as text


@dataclass(frozen=True, slots=True)
class Address:
    """Where a conversation lives, enough to send to it later.

    ``account`` is the bot's own identity on the platform (a WeChat ``gh_`` id,
    a Slack team, a DingTalk robot code), so one deployment can serve several.
    ``extra`` holds platform details that a later send needs, such as a
    DingTalk ``sessionWebhook`` and its expiry; values are strings so the
    address always round-trips through JSON.
    """

    platform: str
    conversation_id: str
    user_id: str
    account: str = ""
    thread_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Stable conversation key; also the Redis hash tag of its keys."""
        return f"{self.platform}:{self.account}:{self.conversation_id}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "platform": self.platform,
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "account": self.account,
            "thread_id": self.thread_id,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Address:
        """Inverse of :meth:`to_dict`; unknown fields are ignored."""
        return cls(
            platform=str(data["platform"]),
            conversation_id=str(data["conversation_id"]),
            user_id=str(data["user_id"]),
            account=str(data.get("account") or ""),
            thread_id=data.get("thread_id"),
            extra={str(k): str(v) for k, v in (data.get("extra") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One thing a user said or did, on any platform."""

    platform: str
    message_id: str  # the platform's id; the dedupe key is built from it
    address: Address
    text: str
    kind: MessageKind = MessageKind.TEXT
    user_name: str = ""
    timestamp: float = field(default_factory=time.time)
    event: str | None = None  # for EVENT: subscribe, unsubscribe, click ...
    payload: str | None = None  # for ACTION and click events: the button payload
    raw: Any = field(default=None, repr=False, compare=False)  # debugging only

    @property
    def user_id(self) -> str:
        """The sender's platform user id."""
        return self.address.user_id


@dataclass(frozen=True, slots=True)
class Button:
    """A choice the user can press; ``payload`` comes back as an ACTION."""

    title: str
    payload: str


@dataclass(frozen=True, slots=True)
class Card:
    """A richer block: a title, a body, key-value fields and buttons."""

    title: str
    text: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class Reply:
    """Something the bot says. Adapters render it by their capabilities."""

    text: str
    buttons: tuple[Button, ...] = ()
    quick_replies: tuple[str, ...] = ()
    card: Card | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (web chat, records)."""
        return {
            "text": self.text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
            "quick_replies": list(self.quick_replies),
            "card": None
            if self.card is None
            else {
                "title": self.card.title,
                "text": self.card.text,
                "fields": [list(f) for f in self.card.fields],
                "buttons": [{"title": b.title, "payload": b.payload} for b in self.card.buttons],
            },
        }
