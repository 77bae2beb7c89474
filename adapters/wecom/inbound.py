"""WeCom inbound: callback signatures and decryption, the event XML, and sync_msg entries.

Every callback is encrypted (WeCom has no plaintext mode): ``msg_signature =
sha1(sorted(token, timestamp, nonce, Encrypt))``, and the AES key is the
EncodingAESKey with the corp id inside the ciphertext; wechatpy's enterprise
``WeChatCrypto`` checks and decrypts both the URL verification's ``echostr``
and the POSTed ``<Encrypt>``. The callback itself carries no message: for the
kf API it only says ``kf_msg_or_event`` with a sync ``Token`` and the
``OpenKfId``; the messages are pulled with ``kf/sync_msg``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

from bot.errors import BadRequest, Forbidden
from bot.models import Address, InboundMessage, MessageKind

PLATFORM = "wecom"
MAX_SKEW_S = 300  # WeCom retries within seconds; an older signature is a replay
CUSTOMER, SYSTEM, SERVICER = 3, 4, 5  # sync_msg ``origin``
KF_EVENT = "kf_msg_or_event"


@dataclass(frozen=True, slots=True)
class KfEvent:
    """A decrypted callback: its event name and, for ``kf_msg_or_event``, what to sync."""

    event: str
    open_kfid: str
    token: str


def check_fresh(query: dict[str, str], now: float | None = None) -> None:
    """Refuse a signed request whose timestamp is far from now (a replay)."""
    ts = query.get("timestamp", "")
    if not ts.isdigit() or abs((now or time.time()) - int(ts)) > MAX_SKEW_S:
        raise Forbidden("stale or missing WeCom timestamp")


def refuse_dtd(body: bytes | str) -> None:
    """WeCom never sends a DTD; one anywhere in the (size-capped) body is an entity attack."""
    data = body.encode("utf-8", "replace") if isinstance(body, str) else body
    upper = data.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise BadRequest("XML with a DTD is not accepted")


def echo(crypto: WeChatCrypto, query: dict[str, str]) -> str:
    """The decrypted ``echostr`` of the URL verification (WeCom expects it back in plain)."""
    try:
        return str(
            crypto.check_signature(
                query.get("msg_signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
                query.get("echostr", ""),
            )
        )
    except (InvalidSignatureException, InvalidCorpIdException):
        raise Forbidden("bad WeCom signature") from None
    except Exception as exc:  # a signed echostr that is no ciphertext of ours
        raise BadRequest(f"cannot decrypt WeCom echostr ({type(exc).__name__})") from None


def decrypt(crypto: WeChatCrypto, body: bytes, query: dict[str, str]) -> str:
    """The plain XML of a callback; :class:`Forbidden` for a bad signature or corp id."""
    refuse_dtd(body)
    try:
        envelope = xmltodict.parse(body.decode("utf-8"))
        encrypted = envelope["xml"]["Encrypt"]
    except Exception:
        raise BadRequest("WeCom callback without <Encrypt>") from None
    if not isinstance(encrypted, str):
        raise BadRequest("WeCom callback without <Encrypt>")
    try:
        plain = crypto.decrypt_message(
            {"Encrypt": encrypted},
            query.get("msg_signature", ""),
            query.get("timestamp", ""),
            query.get("nonce", ""),
        )
    except (InvalidSignatureException, InvalidCorpIdException):
        raise Forbidden("bad WeCom message signature") from None
    except Exception as exc:  # malformed ciphertext
        raise BadRequest(f"cannot decrypt WeCom message ({type(exc).__name__})") from None
    return str(plain)


def parse_event(xml: str) -> KfEvent:
    """The callback's event; :class:`BadRequest` if it is not the XML WeCom sends."""
    refuse_dtd(xml)  # the decrypted payload has not been scanned yet
    try:
        data = xmltodict.parse(xml)["xml"]
    except Exception as exc:
        raise BadRequest(f"malformed WeCom XML ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("MsgType"), str):
        raise BadRequest("WeCom XML without MsgType")
    event = str(data.get("Event") or "") if data["MsgType"] == "event" else ""
    open_kfid, token = data.get("OpenKfId") or "", data.get("Token") or ""
    if event == KF_EVENT and not (isinstance(open_kfid, str) and open_kfid):
        raise BadRequest("kf_msg_or_event without OpenKfId")
    return KfEvent(event=event, open_kfid=str(open_kfid), token=str(token))


# -- sync_msg entries ---------------------------------------------------------------------


def customer(item: dict[str, Any]) -> tuple[str, str, float] | None:
    """(open_kfid, external_userid, send_time) of a customer's own message, else None."""
    if item.get("origin") != CUSTOMER or not item.get("external_userid"):
        return None
    return str(item.get("open_kfid", "")), str(item["external_userid"]), _time(item)


def to_model(item: dict[str, Any]) -> InboundMessage | None:
    """A customer's text as the one inbound model; anything else (None) gets no turn."""
    who = customer(item)
    if who is None or item.get("msgtype") != "text" or not item.get("msgid"):
        return None
    text = item.get("text")
    content = text.get("content") if isinstance(text, dict) else None
    if not isinstance(content, str):
        return None
    open_kfid, user, sent = who
    return InboundMessage(
        platform=PLATFORM,
        message_id=str(item["msgid"]),
        address=_address(open_kfid, user),
        text=content,
        kind=MessageKind.TEXT,
        timestamp=sent,
        raw=item,
    )


def welcome(item: dict[str, Any]) -> tuple[InboundMessage, str] | None:
    """An ``enter_session`` event with a ``welcome_code``: the message (a subscribe) and its code.

    The dialog welcomes a ``subscribe`` already; entering the chat is that for the kf API.
    """
    event = item.get("event")
    if (
        item.get("origin") != SYSTEM
        or item.get("msgtype") != "event"
        or not isinstance(event, dict)
    ):
        return None
    code, user = event.get("welcome_code"), event.get("external_userid")
    if event.get("event_type") != "enter_session" or not code or not user or not item.get("msgid"):
        return None
    open_kfid = str(event.get("open_kfid") or item.get("open_kfid") or "")
    message = InboundMessage(
        platform=PLATFORM,
        message_id=str(item["msgid"]),
        address=_address(open_kfid, str(user)),
        text="",
        kind=MessageKind.EVENT,
        event="subscribe",
        timestamp=_time(item),
        raw=item,
    )
    return message, str(code)


def _address(open_kfid: str, user: str) -> Address:
    # account = the kf account: one corp may run several, each its own conversations
    return Address(platform=PLATFORM, conversation_id=user, user_id=user, account=open_kfid)


def _time(item: dict[str, Any]) -> float:
    value = item.get("send_time")
    return float(value) if isinstance(value, int | float) else time.time()
