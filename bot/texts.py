"""User-facing texts of the core, in Chinese and English, in one place."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "rate_limited": {
        "zh-CN": "您发送消息的速度有点快，请稍等一会儿再发～",
        "en": "You're sending messages a little fast. Please wait a moment and try again.",
    },
    "too_long": {
        "zh-CN": "您的消息太长了，请精简到 {limit} 字以内再发送。",
        "en": "Your message is too long. Please keep it under {limit} characters.",
    },
    "error": {
        "zh-CN": "抱歉，系统开小差了，请稍后再试。",
        "en": "Sorry, something went wrong on our side. Please try again shortly.",
    },
    "media_unsupported": {
        "zh-CN": "目前只能识别文字消息，请用文字描述您的问题～",
        "en": "I can only read text messages for now. Please describe your question in words.",
    },
    "no_agents": {
        "zh-CN": "抱歉，这里暂时无法为您转接人工客服，我会继续尽力为您解答。",
        "en": "Sorry, I can't connect you to a person here. I'll keep helping as best I can.",
    },
    "no_agents_contact": {
        "zh-CN": "如需人工帮助，请联系：{contact}",
        "en": "To reach a person, contact: {contact}",
    },
    "mention_help": {
        "zh-CN": "您好！请在 @我 的同一条消息里写下您的问题，例如：我的订单 20231122001 到哪了？"
        "我可以查订单、查物流，办理退货、修改地址和开发票。",
        "en": "Hi! Mention me together with your question, for example: where is my order "
        "20231122001? I can check orders and deliveries, handle returns, change addresses "
        "and issue invoices.",
    },
    "echo": {
        "zh-CN": "收到：{text}",
        "en": "You said: {text}",
    },
}


def text(key: str, lang: str = "zh-CN", **values: object) -> str:
    """The text ``key`` in ``lang`` (falling back to Chinese), formatted with ``values``."""
    variants = TEXTS[key]
    template = variants.get(lang) or variants["zh-CN"]
    return template.format(**values) if values else template
