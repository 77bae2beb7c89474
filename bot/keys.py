"""Redis key names. One place, so the layout is readable and cluster-safe.

Every key of one conversation carries the conversation key as its hash tag,
``{platform:account:conversation}``, so Lua scripts that touch several of them
run on Redis Cluster too.
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
