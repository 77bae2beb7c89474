"""Rendering a :class:`~bot.models.Reply` for DingTalk.

Buttons become an ActionCard whose buttons are ``dtmd://`` links: a tap makes
the user's client send the payload back as an ordinary text message, so a
button press arrives like typed text (no callback URL needed). Cards become
markdown. Past what the platform can show (more than five OpenAPI buttons),
the buttons degrade to the numbered text menu.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from adapters.console import render_text
from bot.models import Button, Reply

MAX_OPENAPI_BUTTONS = 5  # sampleActionCard .. sampleActionCard5


def action_url(payload: str) -> str:
    """A link that, tapped in the DingTalk client, sends ``payload`` as the user's message."""
    return "dtmd://dingtalkclient/sendMessage?content=" + urllib.parse.quote(payload)


def markdown(reply: Reply) -> str:
    """The reply's text and card as DingTalk markdown (no buttons)."""
    lines = [reply.text]
    if reply.card is not None:
        lines.append(f"#### {reply.card.title}")
        if reply.card.text:
            lines.append(reply.card.text)
        lines.extend(f"- **{k}**: {v}" for k, v in reply.card.fields)
    return "\n\n".join(line for line in lines if line)


def _title(reply: Reply) -> str:
    source = reply.card.title if reply.card is not None else reply.text
    return (source.splitlines() or [""])[0][:20] or "…"


def _buttons(reply: Reply) -> tuple[Button, ...]:
    return reply.buttons + (reply.card.buttons if reply.card is not None else ())


def webhook_message(reply: Reply) -> dict[str, Any]:
    """A sessionWebhook message: text, markdown for a card, or an ActionCard for buttons."""
    buttons = _buttons(reply)
    if buttons:
        return {
            "msgtype": "actionCard",
            "actionCard": {
                "title": _title(reply),
                "text": markdown(reply),
                "btnOrientation": "0",
                "btns": [{"title": b.title, "actionURL": action_url(b.payload)} for b in buttons],
            },
        }
    if reply.card is not None:
        return {
            "msgtype": "markdown",
            "markdown": {"title": _title(reply), "text": markdown(reply)},
        }
    return {"msgtype": "text", "text": {"content": render_text(reply)}}


def openapi_message(reply: Reply) -> tuple[str, str]:
    """``(msgKey, msgParam)`` for the robot OpenAPI (batchSend / groupMessages/send)."""
    buttons = _buttons(reply)
    if buttons and len(buttons) <= MAX_OPENAPI_BUTTONS:
        param: dict[str, str] = {"title": _title(reply), "text": markdown(reply)}
        if len(buttons) == 1:
            key = "sampleActionCard"
            param |= {"singleTitle": buttons[0].title, "singleURL": action_url(buttons[0].payload)}
        else:
            key = f"sampleActionCard{len(buttons)}"
            for i, b in enumerate(buttons, 1):
                param |= {f"actionTitle{i}": b.title, f"actionURL{i}": action_url(b.payload)}
    elif reply.card is not None and not buttons:
        key, param = "sampleMarkdown", {"title": _title(reply), "text": markdown(reply)}
    else:
        key, param = "sampleText", {"content": render_text(reply)}
    return key, json.dumps(param, ensure_ascii=False)
