"""Redis key names. One place, so the layout is readable and cluster-safe.

Every key of one conversation carries the conversation key as its hash tag,
``{platform:account:conversation}``, so Lua scripts that touch several of them
run on Redis Cluster too. Plug-ins build their keys here as well (through
``Host.keys``), with their platform name in the key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder bound to a prefix (``bot`` by default)."""

    prefix: str = "bot"

    def dedupe(self, conversation: str, platform_message_id: str) -> str:
        """processing -> done marker of one platform message."""
        return f"{self.prefix}:dd:{{{conversation}}}:{platform_message_id}"

    def sent(self, conversation: str, platform_message_id: str) -> str:
        """Indexes of the replies to one platform message that went out (the send ledger)."""
        return f"{self.prefix}:sent:{{{conversation}}}:{platform_message_id}"

    def context(self, conversation: str) -> str:
        """The versioned JSON context."""
        return f"{self.prefix}:ctx:{{{conversation}}}"

    def queue(self, conversation: str) -> str:
        """Arrival-ordered waiters for the conversation lock."""
        return f"{self.prefix}:q:{{{conversation}}}"

    def queue_alive(self, conversation: str) -> str:
        """Last time each waiter polled, to drop waiters whose process died."""
        return f"{self.prefix}:qa:{{{conversation}}}"

    def lock(self, conversation: str) -> str:
        """The conversation lock; its value is ``owner:fence``."""
        return f"{self.prefix}:lk:{{{conversation}}}"

    def fence(self, conversation: str) -> str:
        """Monotonic fencing-token counter."""
        return f"{self.prefix}:fn:{{{conversation}}}"

    def rate(self, platform: str, user: str) -> str:
        """GCRA state of one user."""
        return f"{self.prefix}:rl:{{{platform}:{user}}}"

    def rate_notice(self, platform: str, user: str) -> str:
        """Set while the user has had their one over-limit notice this window."""
        return f"{self.prefix}:rn:{{{platform}:{user}}}"

    def replica(self, replica_id: str) -> str:
        """Heartbeat of one running replica."""
        return f"{self.prefix}:replica:{replica_id}"

    def wake(self, replica_id: str = "") -> str:
        """Pub/sub channel that wakes a replica's conversation waiters (``bot/stores/wake.py``);
        without an id, the prefix the scripts complete with one."""
        return f"{self.prefix}:wake:{replica_id}"

    # -- platform plug-ins ---------------------------------------------------------

    def token(self, platform: str, credential: str) -> str:
        """A platform access token shared by replicas (``SharedToken`` adds ``:lock``)."""
        return f"{self.prefix}:{platform}:token:{credential}"

    def user_state(self, platform: str, kind: str, conversation: str) -> str:
        """Per-user state of a platform (WeChat's reply window ``win``, last ``menu``)."""
        return f"{self.prefix}:{platform}:{kind}:{{{conversation}}}"

    def staff_seen(self, platform: str, message_id: str) -> str:
        """Set once a staff-channel command was handled (a redelivery must not act twice)."""
        return f"{self.prefix}:{platform}:staffmsg:{message_id}"

    def web_channel(self, conversation: str) -> str:
        """Pub/sub channel of a web-chat conversation (every replica forwards to its pages)."""
        return f"{self.prefix}:web:{{{conversation}}}"

    def web_pending(self, conversation: str) -> str:
        """Web-chat frames nobody was listening to, flushed when the page reconnects."""
        return f"{self.prefix}:webq:{{{conversation}}}"

    # -- escalation -----------------------------------------------------------------

    def ticket(self, ticket_id: str) -> str:
        """One ticket (JSON)."""
        return f"{self.prefix}:ticket:{{{ticket_id}}}"

    def ticket_thread(self, thread: str) -> str:
        """Staff thread reference -> ticket id."""
        return f"{self.prefix}:ticket-thread:{thread}"

    def tickets(self) -> str:
        """The set of every ticket id."""
        return f"{self.prefix}:tickets"

    def ticket_timers(self) -> str:
        """Due ticket timers (a sorted set, score = due time)."""
        return f"{self.prefix}:ticket-timers"

    # -- agent console ---------------------------------------------------------------

    def agents(self) -> str:
        """Agent name -> password hash."""
        return f"{self.prefix}:agents"

    def agent_session(self, token_hash: str) -> str:
        """One signed-in agent's session, by the hash of its token."""
        return f"{self.prefix}:agent-session:{token_hash}"

    def agent_login_failures(self, kind: str, who: str) -> str:
        """Failed sign-ins of one ``name`` or one ``ip``."""
        return f"{self.prefix}:agent-login-fail:{kind}:{who}"

    def console_events(self) -> str:
        """The pub/sub channel of console events (queue and thread updates)."""
        return f"{self.prefix}:agent-console"

    def console_thread(self, ticket_id: str) -> str:
        """A ticket's console thread; same hash tag as the ticket."""
        return f"{self.prefix}:console-thread:{{{ticket_id}}}"
