"""Replies as Slack messages: text plus Block Kit for buttons and cards."""

from __future__ import annotations

from typing import Any

from bot.models import Reply

REPLY_BUTTON = "reply_button"  # action_id of a reply's buttons; the click comes back as an ACTION


def blocks(reply: Reply) -> list[dict[str, Any]] | None:
    """Block Kit blocks for ``reply``, or None for plain text."""
    if not reply.buttons and reply.card is None:
        return None
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": reply.text or " "}}
    ]
    if reply.card is not None:
        out.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{reply.card.title}*\n{reply.card.text}"},
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in reply.card.fields][
                    :10
                ]
                or None,
            }
        )
        if not out[-1]["fields"]:
            del out[-1]["fields"]
    buttons = list(reply.buttons) + (list(reply.card.buttons) if reply.card else [])
    if buttons:
        out.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"{REPLY_BUTTON}_{i}",
                        "value": b.payload,
                        "text": {"type": "plain_text", "text": b.title[:75]},
                    }
                    for i, b in enumerate(buttons[:25])
                ],
            }
        )
    return out
