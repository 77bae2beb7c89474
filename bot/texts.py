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
        "zh-CN": "抱歉，目前没有人工客服在线，请留下您的问题，我们会尽快联系您。",
        "en": "Sorry, no human agent is available right now. "
        "Leave your question and we'll get back to you.",
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


def detect_lang(message: str, default: str = "zh-CN") -> str:
    """``zh-CN`` with CJK characters, ``en`` with Latin letters only, else ``default``.

    A message of digits alone (an order number) keeps the conversation's language.
    """
    if any("\u4e00" <= ch <= "\u9fff" for ch in message):
        return "zh-CN"
    if any(ch.isascii() and ch.isalpha() for ch in message):
        return "en"
    return default
