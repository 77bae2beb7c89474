"""What the customer and the agents are told, in one place."""

from __future__ import annotations

CUSTOMER = {
    "asked": {
        "zh-CN": "已为您转接人工客服（工单 {id}），预计等待约 {minutes} 分钟，请稍候。",
        "en": "I've asked a human agent to help (ticket {id}); "
        "the wait is about {minutes} minutes.",
    },
    "joined": {
        "zh-CN": "人工客服 {agent} 已接入，请问有什么可以帮您？",
        "en": "{agent} from our team has joined the conversation.",
    },
    "still_waiting": {
        "zh-CN": "人工客服都在忙，您的工单 {id} 仍在排队中，我们会尽快回复您。",
        "en": "Our agents are busy; ticket {id} is still in the queue. We'll be with you soon.",
    },
    "after_hours": {
        "zh-CN": "现在是非工作时间（人工客服 {hours}），"
        "您的工单 {id} 已登记，上班后会第一时间处理。",
        "en": "We're outside business hours ({hours}); ticket {id} is logged and will be "
        "handled first thing when we open.",
    },
    "resolved": {
        "zh-CN": "本次人工服务已结束，感谢您的耐心。如需帮助可以随时找我～",
        "en": "The agent has closed this conversation. I'm here if you need anything else.",
    },
    "rate_ask": {
        "zh-CN": "请为本次人工服务打分：回复 1-5（5 为非常满意）。",
        "en": "How did we do? Reply with a score from 1 to 5 (5 is best).",
    },
    "rate_thanks": {
        "zh-CN": "感谢您的评价！",
        "en": "Thanks for your feedback!",
    },
}
STAFF = {
    "claimed_by_other": "Ticket {id} is already claimed by {holder}.",
    "not_open": "Ticket {id} is {status}; nothing to do.",
    "unknown": "No ticket {id}.",
    "delivery_failed": ":warning: Not delivered to the customer ({platform}): {error}",
    "customer_says": "Customer: {text}",
    "claimed": "Claimed by {agent}.",
    "resolved": "Resolved by {agent}; the bot has the conversation again.",
    "note_kept": "(internal note, not sent to the customer)",
    "rated": "The customer rated this ticket {score}/5.",
    "unclaimed": ":alarm_clock: Ticket {id} has waited {minutes} min without an agent.",
    "agent_idle": ":alarm_clock: <@{agent}> the customer of ticket {id} "
    "has had no reply for {minutes} min.",
    "window": ":warning: The customer's WeChat window closes in about {minutes} min; after that "
    "replies cannot be delivered.",
    "auto_resolved": "Resolved automatically: the customer was idle for {minutes} min.",
    "not_staff": "<@{agent}> ticket actions only count in the staff channel; "
    "ticket {id} was not changed.",
    "ding_help": "Commands: @bot claim <id> · @bot reply <id> <text> "
    "(note: or // keeps it internal) · @bot close <id>",
    "ding_card": "New ticket {id} ({reason})\n{platform} user {user}\nintents: {intents}\n"
    "slots: {slots}\n{transcript}\nClaim: @bot claim {id}",
    "after_hours": "Opened outside business hours ({hours}); agents are in from {opens}.",
    # what an agent wrote in another staff channel ({via}: its plug-in's StaffSide.title)
    "agent_reply": "{agent} (in {via}) to the customer: {text}",
    "agent_note": "Internal note by {agent} (in {via}): {text}",
}


def customer(key: str, lang: str, **values: object) -> str:
    """A customer-facing text in ``lang`` (Chinese by default)."""
    variants = CUSTOMER[key]
    return (variants.get(lang) or variants["zh-CN"]).format(**values)
