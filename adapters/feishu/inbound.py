"""Feishu inbound: Events v2 verification and decryption, and the message model.

A request's body is JSON, or ``{"encrypt": ...}`` when the app has an encrypt
key (AES-256-CBC, key ``sha256(encrypt_key)``, IV the first 16 bytes; lark-oapi's
``AESCipher`` decrypts). With an encrypt key Feishu signs every event:
``X-Lark-Signature = sha256(timestamp + nonce + encrypt_key + body)`` in hex,
``X-Lark-Request-Timestamp`` in seconds. The verification token rides in the
payload (``header.token``, or ``token`` for ``url_verification``, which is not
signed). ``im.message.receive_v1`` carries the text as a JSON string.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from bot.errors import BadRequest, Forbidden
from bot.models import Address, InboundMessage, MessageKind

MAX_SKEW_S = 300  # a signature older than this is a replay, as Slack's 5 minutes
URL_VERIFICATION = "url_verification"
MESSAGE_RECEIVE = "im.message.receive_v1"
CARD_ACTION = "card.action.trigger"
_SPACES = re.compile(r"\s+")


def parse_json(raw: bytes | str, what: str = "Feishu request body") -> dict[str, Any]:
    """A JSON object, or :class:`BadRequest`.

    A lone surrogate escape (``"\\ud800"``) is valid JSON but no Unicode text:
    Feishu never sends one, and a string holding it fails later, where it is
    encoded (the reply's request, the records' database), so it is refused here.
    """
    try:
        data = json.loads(raw)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # ValueError on a lone surrogate
    except (ValueError, RecursionError):  # UnicodeError and binascii.Error are ValueErrors
        raise BadRequest(f"malformed {what}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"{what} is not a JSON object")
    return data


def decrypt(data: dict[str, Any], encrypt_key: str | None) -> dict[str, Any]:
    """The plaintext payload of ``data`` (itself when it is not encrypted)."""
    if "encrypt" not in data:
        return data
    if not encrypt_key:
        raise BadRequest("encrypted Feishu event, but FEISHU_ENCRYPT_KEY is not set")
    if not isinstance(data["encrypt"], str):
        raise BadRequest("Feishu encrypt field is not a string")
    from lark_oapi.core.utils.decryptor import AESCipher

    try:
        plain = AESCipher(encrypt_key).decrypt_str(data["encrypt"])
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        raise BadRequest("cannot decrypt Feishu event") from None
    return parse_json(plain, "decrypted Feishu event")


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """The ``X-Lark-Signature`` Feishu sends for ``body``."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def signed(
    headers: Mapping[str, str], body: bytes, encrypt_key: str, now: float | None = None
) -> bool:
    """Whether the signature is right and its timestamp within :data:`MAX_SKEW_S`."""
    ts = headers.get("x-lark-request-timestamp", "")
    nonce = headers.get("x-lark-request-nonce", "")
    given = headers.get("x-lark-signature", "")
    if not ts.isdigit() or abs((now or time.time()) - int(ts)) > MAX_SKEW_S:
        return False
    return hmac.compare_digest(signature(ts, nonce, encrypt_key, body), given)


def event_type(payload: dict[str, Any]) -> str:
    """``url_verification``, or the v2 ``header.event_type``; "" for anything else."""
    if payload.get("type") == URL_VERIFICATION:
        return URL_VERIFICATION
    header = payload.get("header")
    return str(header.get("event_type") or "") if isinstance(header, dict) else ""


def message_of(payload: dict[str, Any]) -> dict[str, Any]:
    """``event.message`` of a message event; {} when the payload has none."""
    event = payload.get("event")
    message = event.get("message") if isinstance(event, dict) else None
    return message if isinstance(message, dict) else {}


def check_token(payload: dict[str, Any], expected: str | None) -> None:
    """:class:`Forbidden` unless the payload carries the app's verification token."""
    if not expected:
        return
    header = payload.get("header")
    given = header.get("token") if isinstance(header, dict) else payload.get("token")
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("bad Feishu verification token")


def to_model(payload: dict[str, Any], bot_open_id: str) -> InboundMessage | None:
    """An ``im.message.receive_v1`` event as the inbound model; None when it is not for us.

    Not for us: messages from apps (the bot's own included), and group messages
    that do not @-mention the bot. The message's own mention of the bot is
    stripped; other mentions read as ``@name``.
    """
    header, event = payload.get("header") or {}, payload.get("event")
    if not isinstance(event, dict) or not isinstance(header, dict):
        raise BadRequest("Feishu event without header or event")
    message, sender = event.get("message"), event.get("sender") or {}
    if not isinstance(message, dict) or not message.get("chat_id") or not header.get("event_id"):
        raise BadRequest("Feishu message event without message, chat_id or event_id")
    if not isinstance(sender, dict) or sender.get("sender_type", "user") != "user":
        return None
    mentions = _mentions(message)
    group = message.get("chat_type") != "p2p"
    if group and not any(_mention_id(m) == bot_open_id for m in mentions):
        return None  # a group message for someone else (the app may read every group message)
    text, kind = text_of(message, bot_open_id)
    return InboundMessage(
        platform="feishu",
        message_id=str(header["event_id"]),  # retries and redeliveries keep it: the dedupe key
        address=address(payload),
        text=text,
        kind=kind,
        user_name="",
        raw=payload,
    )


def address(payload: dict[str, Any]) -> Address:
    """Where a message's replies go: its chat, its thread, the message to reply to.

    A p2p chat is one conversation; in a group each thread is one, and outside
    threads each member's own, so two people in one group do not share a dialog.
    """
    header, event = payload["header"], payload["event"]
    message = event["message"]
    user = sender_open_id(event)
    chat, thread = str(message["chat_id"]), message.get("thread_id") or None
    group = message.get("chat_type") != "p2p"
    conversation = f"{chat}:{thread or user}" if group else chat
    return Address(
        platform="feishu",
        conversation_id=conversation,
        user_id=user,
        account=str(header.get("tenant_key") or ""),
        thread_id=str(thread) if thread else None,
        extra={
            "chat_id": chat,
            "chat_type": str(message.get("chat_type") or ""),
            "message_id": str(message.get("message_id") or ""),
            "root_id": str(message.get("root_id") or ""),
        },
    )


def text_of(message: dict[str, Any], bot_open_id: str) -> tuple[str, MessageKind]:
    """What a message says, the bot's own mention removed, and its kind."""
    text, kind = _content(message)
    return _strip_mentions(text, _mentions(message), bot_open_id), kind


def sender_open_id(event: dict[str, Any]) -> str:
    """``event.sender.sender_id.open_id``; "" where any of it is missing or not an object."""
    sender = event.get("sender")
    ids = sender.get("sender_id") if isinstance(sender, dict) else None
    return str(ids.get("open_id") or "") if isinstance(ids, dict) else ""


def _mentions(message: dict[str, Any]) -> list[dict[str, Any]]:
    mentions = message.get("mentions")
    return [m for m in mentions if isinstance(m, dict)] if isinstance(mentions, list) else []


def _mention_id(mention: dict[str, Any]) -> str:
    ids = mention.get("id")
    return str(ids.get("open_id") or "") if isinstance(ids, dict) else ""


def _content(message: dict[str, Any]) -> tuple[str, MessageKind]:
    """The text of a text or rich-text (post) message; media have none."""
    kind = message.get("message_type")
    if kind not in ("text", "post"):
        return "", MessageKind.MEDIA
    content = parse_json(str(message.get("content") or "{}"), "Feishu message content")
    if kind == "text":
        return str(content.get("text") or ""), MessageKind.TEXT
    return _post_text(content), MessageKind.TEXT


def _post_text(content: dict[str, Any]) -> str:
    """The text runs of a post, in either shape (``{"zh_cn": {...}}`` or the post itself)."""
    post = content if "content" in content else next(iter(content.values()), {})
    lines = post.get("content") if isinstance(post, dict) else None
    out = []
    for line in lines if isinstance(lines, list) else []:
        runs = line if isinstance(line, list) else []
        out.append("".join(_run_text(r) for r in runs if isinstance(r, dict)))
    return "\n".join(line for line in out if line)


def _run_text(run: dict[str, Any]) -> str:
    """A post run's text; a mention is its key (``@_user_1``), resolved like a text's."""
    if run.get("tag") in ("text", "a"):
        return str(run.get("text") or "")
    return str(run.get("user_id") or "") if run.get("tag") == "at" else ""


def _strip_mentions(text: str, mentions: list[dict[str, Any]], bot_open_id: str) -> str:
    for mention in mentions:
        key = str(mention.get("key") or "")
        if not key:
            continue
        name = "" if _mention_id(mention) == bot_open_id else f"@{mention.get('name', '')}"
        text = text.replace(key, name)
    return _SPACES.sub(" ", text).strip()
