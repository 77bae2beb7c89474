"""WeChat Official Account inbound: signatures, safe mode (AES) and message parsing.

Verification follows the platform: ``signature = sha1(sorted(token, timestamp,
nonce))`` on every request; in safe mode the body is ``<Encrypt>`` and
``msg_signature`` covers it too (wechatpy's ``WeChatCrypto`` decrypts). A
body with a DTD or entity declaration is refused before any XML parser sees
it, so an entity bomb costs nothing.
"""

from __future__ import annotations

import time
from typing import Any

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import UnknownMessage
from wechatpy.utils import check_signature

from bot.errors import BadRequest, Forbidden
from bot.models import Address, InboundMessage, MessageKind

MAX_SKEW_S = 300  # WeChat's own retries arrive within seconds; older signatures are replays
# The events that are the user's own doing, those WeChat lists as opening the 48-hour
# customer-service window: following the account, scanning a QR code, and the menu's
# click and scan buttons. Every other event, known to wechatpy or not (menu links,
# location reports, send reports, kf session changes, subscription-message popups,
# verification notices), is a notification: answered "success", no turn, no window.
USER_EVENTS = frozenset({"subscribe", "scan", "click", "scancode_push", "scancode_waitmsg"})
_SUBSCRIBE_VARIANTS = frozenset({"subscribe_scan", "subscribe_scan_product"})


def verify(token: str, query: dict[str, str]) -> None:
    """Check ``signature`` over token/timestamp/nonce; :class:`Forbidden` if it fails."""
    try:
        check_signature(
            token, query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", "")
        )
    except InvalidSignatureException:
        raise Forbidden("bad WeChat signature") from None


def check_fresh(query: dict[str, str], now: float | None = None) -> None:
    """Refuse a signed request whose timestamp is far from now (a replay)."""
    ts = query.get("timestamp", "")
    if not ts.isdigit() or abs((now or time.time()) - int(ts)) > MAX_SKEW_S:
        raise Forbidden("stale or missing WeChat timestamp")


def refuse_dtd(body: bytes | str) -> None:
    """WeChat never sends a DTD; one in the body is an attack (entity expansion).

    The whole body is scanned (it is already capped at ``MAX_BODY_BYTES``):
    comments or processing instructions may legally push a DOCTYPE past any
    fixed-size prefix.
    """
    data = body.encode("utf-8", "replace") if isinstance(body, str) else body
    upper = data.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise BadRequest("XML with a DTD is not accepted")


def as_text(body: bytes) -> str:
    """A plaintext-mode body as text; :class:`BadRequest` when it is not UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("body is not UTF-8") from None


def decrypt(crypto: WeChatCrypto, body: bytes, query: dict[str, str]) -> str:
    """The plain XML of a safe-mode request."""
    try:
        return str(
            crypto.decrypt_message(
                body.decode("utf-8"),
                query.get("msg_signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
        )
    except (InvalidSignatureException, InvalidAppIdException):
        raise Forbidden("bad WeChat message signature") from None
    except Exception as exc:  # malformed XML or ciphertext
        raise BadRequest(f"cannot decrypt WeChat message ({type(exc).__name__})") from None


def parse(xml: str) -> tuple[InboundMessage, object]:
    """The inbound message and wechatpy's typed object (needed to build the passive reply)."""
    refuse_dtd(xml)  # the decrypted safe-mode payload has not been scanned yet
    try:
        msg = parse_message(xml)
    except Exception as exc:
        raise BadRequest(f"malformed WeChat XML ({type(exc).__name__})") from None
    if not getattr(msg, "source", None):
        raise BadRequest("WeChat XML without FromUserName")
    return to_model(msg), msg


def to_model(msg: Any) -> InboundMessage:
    """wechatpy's typed message as the one inbound model."""
    source, target = str(msg.source), str(getattr(msg, "target", ""))
    address = Address(platform="wechat", conversation_id=source, user_id=source, account=target)
    event = event_name(msg)
    kind, text, payload = _content(msg, event)
    create_time = str(getattr(msg, "create_time", "") or getattr(msg, "time", ""))
    msg_id = str(getattr(msg, "id", 0) or "")
    # Events carry no MsgId: WeChat's retries are recognised by sender + CreateTime.
    message_id = (
        msg_id
        if msg_id and msg_id != "0"
        else f"{source}:{create_time}:{event or getattr(msg, 'type', '')}"
    )
    return InboundMessage(
        platform="wechat",
        message_id=message_id,
        address=address,
        text=text,
        kind=kind,
        event=event,
        payload=payload,
        raw=msg,
    )


def event_name(msg: Any) -> str | None:
    """The lower-cased event name (None for a message), also for events wechatpy lacks.

    Following through a QR code or a product page is still following: both are
    ``subscribe``, so they get the same welcome.
    """
    if isinstance(msg, UnknownMessage):
        data = msg._data  # the parsed XML; wechatpy has no public accessor for it
        if str(data.get("MsgType", "")).lower() != "event":
            return None
        name = str(data.get("Event") or "").lower()
    elif getattr(msg, "type", "") == "event":
        name = str(getattr(msg, "event", "")).lower()
    else:
        return None
    return "subscribe" if name in _SUBSCRIBE_VARIANTS else name


def is_notification(message: InboundMessage) -> bool:
    """An event that is not one of ``USER_EVENTS``: it gets no reply and opens no window."""
    return message.event is not None and message.event not in USER_EVENTS


def _content(msg: Any, event: str | None) -> tuple[MessageKind, str, str | None]:
    """Kind, text and button payload of a message or event."""
    if event == "click":
        key = str(getattr(msg, "key", ""))
        return MessageKind.ACTION, key, key
    if event is not None:
        return MessageKind.EVENT, "", None
    msg_type = getattr(msg, "type", "")
    if msg_type == "text":
        return MessageKind.TEXT, str(getattr(msg, "content", "")), None
    if msg_type == "voice":  # WeChat's own speech recognition, when the account enables it
        text = str(getattr(msg, "recognition", "") or "")
        return (MessageKind.TEXT if text else MessageKind.MEDIA), text, None
    return MessageKind.MEDIA, "", None
