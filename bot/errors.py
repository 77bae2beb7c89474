"""The bot's exceptions, in one tree::

BotError
├── ConfigError          bad settings, flows or training data (start-up)
├── BadRequest           input an adapter cannot parse (-> HTTP 400)
│   └── PayloadTooLarge  body over the limit (-> HTTP 413)
├── Forbidden            a forged or stale signature (-> HTTP 401/403)
├── StoreUnavailable     Redis cannot be reached (-> HTTP 503, platform retries)
├── LockTimeout          a conversation stayed locked past the wait limit
├── FencedOut            our lock expired and another holder took over
└── DeliveryError        a platform refused or failed a send
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(BotError):
    """Settings, flows or training data are invalid."""


class BadRequest(BotError):
    """An inbound request that cannot be parsed."""


class PayloadTooLarge(BadRequest):
    """An inbound body over ``max_body_bytes``."""


class Forbidden(BotError):
    """An inbound request whose signature does not verify."""


class StoreUnavailable(BotError):
    """Redis is down; webhooks answer 503 so platforms retry."""


class LockTimeout(BotError):
    """Waited longer than ``lock_wait_ms`` for a conversation."""


class FencedOut(BotError):
    """The conversation lock expired under us; our writes are refused."""


class DeliveryError(BotError):
    """A send failed; ``retryable`` tells whether trying later may help."""

    def __init__(self, message: str, *, platform: str, retryable: bool = False, code: str = ""):
        super().__init__(message)
        self.platform = platform
        self.retryable = retryable
        self.code = code
