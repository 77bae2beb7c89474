"""Agents of the web console, their sign-in sessions and the failed-login limit, in Redis.

Passwords are kept only as argon2id hashes (argon2-cffi), checked off the
event loop because a slow hash is slow on purpose. A session is a random
token in an HttpOnly cookie; Redis keeps only its SHA-256 (a copy of the
database holds no usable cookie), with an expiry that slides on use, and the
session's CSRF token. Removing an agent ends their sessions.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.keys import Keys

SCHEMA_VERSION = 1
NAME = re.compile(r"^[\w.\-]{1,32}$")  # \w includes CJK: 小王 is a fine agent name
MIN_PASSWORD = 8
FAIL_WINDOW_S = 15 * 60
MAX_FAILS_ACCOUNT, MAX_FAILS_IP = 5, 30
_HASHER = PasswordHasher()
# verified when the name is unknown, so a wrong name costs as long as a wrong password
_DUMMY = _HASHER.hash(secrets.token_hex(16))


class AgentError(ValueError):
    """A name or password that cannot be used; the message says why, in one line."""


@dataclass(frozen=True)
class Session:
    """A signed-in agent."""

    token: str
    agent: str
    csrf: str


class AgentStore:
    """Agents (name -> password hash), sessions, and failed-login counters."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, session_ttl_s: int) -> None:
        self._redis = redis
        self._keys = keys
        self._agents = keys.agents()
        self.session_ttl_s = session_ttl_s

    async def add(self, name: str, password: str) -> None:
        """Create or re-password an agent."""
        if not NAME.match(name):
            raise AgentError("agent names are 1-32 letters, digits, '_', '.' or '-'")
        if len(password) < MIN_PASSWORD:
            raise AgentError(f"passwords need at least {MIN_PASSWORD} characters")
        hashed = await asyncio.to_thread(_HASHER.hash, password)
        value = {"hash": hashed, "created_at": time.time(), "v": SCHEMA_VERSION}
        await self._redis.hset(self._agents, name, json.dumps(value))

    async def remove(self, name: str) -> bool:
        """Delete an agent (their sessions stop working at once); False if unknown."""
        return bool(await self._redis.hdel(self._agents, name))

    async def names(self) -> list[str]:
        """Every agent's name, sorted."""
        return sorted(n.decode() for n in cast(list[bytes], await self._redis.hkeys(self._agents)))

    async def any(self) -> bool:
        """Whether at least one agent exists."""
        return bool(await self._redis.hlen(self._agents))

    async def exists(self, name: str) -> bool:
        """Whether ``name`` is an agent."""
        return bool(await self._redis.hexists(self._agents, name))

    async def verify(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s (same cost for unknown names)."""
        raw = cast(bytes | None, await self._redis.hget(self._agents, name))
        hashed = json.loads(raw)["hash"] if raw else _DUMMY
        try:
            ok = await asyncio.to_thread(_HASHER.verify, hashed, password)
        except (VerificationError, InvalidHashError):
            return False
        return bool(ok and raw)

    # -- sessions --------------------------------------------------------------

    def _session_key(self, token: str) -> str:
        return self._keys.agent_session(hashlib.sha256(token.encode()).hexdigest())

    async def open_session(self, agent: str) -> Session:
        """A new session for ``agent``."""
        session = Session(secrets.token_urlsafe(32), agent, secrets.token_urlsafe(32))
        value = {"agent": agent, "csrf": session.csrf, "v": SCHEMA_VERSION}
        await self._redis.set(
            self._session_key(session.token), json.dumps(value), ex=self.session_ttl_s
        )
        return session

    async def session(self, token: str) -> Session | None:
        """The live session of ``token`` (its expiry renewed), or None."""
        if not token or len(token) > 128:
            return None
        key = self._session_key(token)
        raw = cast(bytes | None, await self._redis.getex(key, ex=self.session_ttl_s))
        if raw is None:
            return None
        data = json.loads(raw)
        if not await self.exists(data["agent"]):  # removed since signing in
            await self._redis.delete(key)
            return None
        return Session(token, data["agent"], data["csrf"])

    async def close_session(self, token: str) -> None:
        """Sign out."""
        await self._redis.delete(self._session_key(token))

    # -- failed logins ---------------------------------------------------------

    def _fail_keys(self, name: str, ip: str) -> tuple[str, str]:
        return (
            self._keys.agent_login_failures("name", name[:64]),
            self._keys.agent_login_failures("ip", ip),
        )

    async def locked(self, name: str, ip: str) -> bool:
        """Too many recent failures for this account or from this address."""
        # two GETs, not MGET: the keys live in different Redis Cluster slots
        by_name, by_ip = [await self._redis.get(k) for k in self._fail_keys(name, ip)]
        return int(by_name or 0) >= MAX_FAILS_ACCOUNT or int(by_ip or 0) >= MAX_FAILS_IP

    async def failed(self, name: str, ip: str) -> None:
        """Count a failed login against the account and the address (for a window)."""
        for key in self._fail_keys(name, ip):
            async with self._redis.pipeline(transaction=True) as pipe:
                # the window starts at the first failure (INCR keeps the TTL; Redis 6 has
                # no EXPIRE NX)
                pipe.set(key, 0, ex=FAIL_WINDOW_S, nx=True)
                pipe.incr(key)
                await pipe.execute()

    async def succeeded(self, name: str) -> None:
        """A good password clears the account's count (the address keeps its own)."""
        await self._redis.delete(self._fail_keys(name, "")[0])
