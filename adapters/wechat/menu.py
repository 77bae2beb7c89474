"""The last numbered menu shown to each WeChat user, so a typed number picks that choice.

WeChat text has no buttons, so :mod:`adapters.wechat.render` numbers them;
this store keeps the numbered choices per user in Redis (shared by
replicas, an hour long) and turns an answer like "2" into the button's
payload (an ACTION) or the quick reply's text.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence

import redis.asyncio as aioredis

from adapters.wechat.render import choices
from bot.keys import Keys
from bot.models import InboundMessage, MessageKind, Reply

MENU_TTL_S = 3600
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.。、)]?\s*$")


class MenuMemory:
    """Per-user memory of the last menu; keys share the conversation's hash tag."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def _key(self, account: str, openid: str) -> str:
        return self._keys.user_state("wechat", "menu", f"wechat:{account}:{openid}")

    async def shown(self, account: str, openid: str, replies: Sequence[Reply]) -> None:
        """Remember the menu of the last reply that has one; a reply without one forgets it."""
        menu = next((choices(r) for r in reversed(replies) if choices(r)), [])
        key = self._key(account, openid)
        if not menu:
            await self._redis.delete(key)
            return
        data = [[c.title, c.payload] for c in menu]
        await self._redis.set(key, json.dumps(data, ensure_ascii=False), ex=MENU_TTL_S)

    async def resolve(self, message: InboundMessage) -> InboundMessage:
        """The message with a menu number replaced by the choice it names (else unchanged)."""
        match = _NUMBER.match(message.text) if message.kind is MessageKind.TEXT else None
        if match is None:
            return message
        raw = await self._redis.get(self._key(message.address.account, message.user_id))
        if raw is None:
            return message
        menu = json.loads(raw)
        index = int(match.group(1)) - 1
        if not 0 <= index < len(menu):
            return message
        title, payload = menu[index]
        if payload is None:  # a quick reply: as if the user had typed it
            return dataclasses.replace(message, text=title)
        return dataclasses.replace(message, kind=MessageKind.ACTION, text=title, payload=payload)
