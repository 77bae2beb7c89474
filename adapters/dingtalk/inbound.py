"""DingTalk inbound: the robot message model, and the HTTP outgoing-mode signature.

The message payload is the same in Stream and HTTP mode; it is read with
dingtalk-stream's ``ChatbotMessage``. HTTP mode signs each request:
``sign = base64(hmac_sha256(AppSecret, f"{timestamp}\\n{AppSecret}"))``,
refused when the timestamp is more than an hour off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from dingtalk_stream import ChatbotMessage

from bot.errors import BadRequest, Forbidden
from bot.models import Address, InboundMessage, MessageKind

WINDOW_MS = 3600 * 1000


def sign(timestamp: str, secret: str) -> str:
    """The signature DingTalk sends for ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(headers: dict[str, str], secret: str, now_ms: int | None = None) -> None:
    """:class:`Forbidden` unless ``timestamp``/``sign`` are right and within an hour."""
    ts, given = headers.get("timestamp", ""), headers.get("sign", "")
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    if not ts.isdigit() or abs(now - int(ts)) > WINDOW_MS:
        raise Forbidden("stale or missing DingTalk timestamp")
    if not hmac.compare_digest(sign(ts, secret), given):
        raise Forbidden("bad DingTalk signature")


def to_model(data: dict[str, Any]) -> InboundMessage:
    """A robot message (1:1 or group @-mention) as the one inbound model."""
    if not isinstance(data, dict) or not data.get("msgId") or not data.get("conversationId"):
        raise BadRequest("DingTalk message without msgId or conversationId")
    if not (data.get("senderStaffId") or data.get("senderId") or data.get("sessionWebhook")):
        raise BadRequest(
            "DingTalk message without a sender or a sessionWebhook"
        )  # no one to answer
    try:
        # The SDK's parser assumes well-typed fields; anything else is a malformed message.
        msg = ChatbotMessage.from_dict(data)
        text = _text(msg, data)
    except (AttributeError, TypeError, ValueError, KeyError):
        raise BadRequest("malformed DingTalk robot message") from None
    address = Address(
        platform="dingtalk",
        conversation_id=str(msg.conversation_id),
        user_id=str(msg.sender_staff_id or msg.sender_id or ""),
        account=str(msg.robot_code or ""),
        extra={
            "conversation_type": str(msg.conversation_type or "1"),
            "session_webhook": str(msg.session_webhook or ""),
            "session_webhook_expires_ms": str(msg.session_webhook_expired_time or 0),
        },
    )
    kind = MessageKind.TEXT if text or msg.message_type in ("text", None) else MessageKind.MEDIA
    return InboundMessage(
        platform="dingtalk",
        message_id=str(msg.message_id),
        address=address,
        text=text,
        kind=kind,
        user_name=str(msg.sender_nick or ""),
        raw=data,
    )


def _text(msg: ChatbotMessage, data: dict[str, Any]) -> str:
    """What the user wrote: a text, the text parts of a rich text, or a voice's transcript."""
    if msg.message_type == "richText":
        parts = msg.get_text_list() or []  # the text items; pictures have none
        return "\n".join(str(part).strip() for part in parts if str(part).strip())
    if msg.message_type == "audio":  # DingTalk's own speech recognition (the SDK skips audio)
        content = data.get("content") or {}
        return str(content.get("recognition") or "").strip()
    return str((msg.text.content if msg.text is not None else "") or "").strip()
