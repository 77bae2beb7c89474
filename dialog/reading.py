"""How the engine reads a parsed message in a flow: a new request, or an answer.

A negated request ("我不想退货了") is a cancel, not the request; a confident request
with words beyond its values interrupts the flow ("订单X到哪了"), while the values
alone ("订单号X") answer it.
"""

from __future__ import annotations

import re

from nlu.types import OUT_OF_SCOPE, ParseResult

# A bare 不 negates only the verb right after it (不退了), and not in a question why
# not (为什么不退, 怎么还不退); the longer words reach a few characters on, within a
# clause: "尺码不对 想换个大一号的" asks for an exchange, it does not take one back.
NEGATED = re.compile(
    r"(?:不想|不要|不用|不打算|别|算了)[^\s,.!?，。！？、]{0,3}(?:退|换|改|开|查|投诉)"
    r"|(?<![还么啥])不(?:退|换|改|开|查|投诉)|don't want|no longer"
)
POSITIVE_FLOWS = {"return_refund", "change_address", "invoice"}
# "Never mind" to a confirmation drops what is being confirmed. "没事了 谢谢" reads as
# thanks to the model, and thanks alone would be answered and the question asked again.
DROPPED = re.compile(r"没事了|没事儿了|不麻烦了|never ?mind|forget (?:it|about it)|no need")
# A new request may interrupt a flow from this confidence on. The intents split their
# mass (订单…到哪了 is part order_status, part track_shipment), so it is below one half.
REQUEST_CONFIDENCE = 0.4


# Question words and marks: a flow's topic asked as a question is a policy question.
_QUESTION = re.compile(
    r"[?？吗呢么嘛]|怎么|怎样|如何|能不能|可不可以|是否|多久|几天|多少|什么"
    r"|^(can|could|may|how|what|when|is|are|do|does|will|should|why)\b|\b(how|can i|what)\b"
)


def is_question(text: str) -> bool:
    """Whether ``text`` reads as a question rather than a request."""
    return bool(_QUESTION.search(text.strip().lower()))


# Words around a value that ask nothing of their own: "那换成 20231122005", "ok then, it's
# 20231122006", "what about 20231122002?" carry the value and nothing else.
_FILLER = re.compile(
    r"订单号?|单号|运单|换成|改成|好的|那就|是|的|那|好|嗯|哦|呢"
    r"|\b(?:order|number|no|ok(?:ay)?|then|so|and|it'?s|it is|what about|how about|try)\b"
    r"|[\s,.:：，。#!?！？]"
)


def is_request(parse: ParseResult) -> bool:
    """A confident request with words beyond its values (订单X到哪了, not 订单号X)."""
    if parse.intent.confidence < REQUEST_CONFIDENCE:
        return False
    text = parse.text
    for entity in sorted(parse.entities, key=lambda e: -e.start):
        text = text[: entity.start] + text[entity.end :]
    return len(_FILLER.sub("", text.lower())) >= 2


def intent_is_answer(parse: ParseResult, triggers: dict[str, str], flow: str | None) -> bool:
    """Whether a message can be a free-text answer (not a request for another flow)."""
    other = triggers.get(parse.intent.name) not in (None, flow)
    return not other or parse.intent.confidence < 0.8


# The out-of-scope class's probability from which a message is off topic, not misread:
# on the bundled validation set, 67 of the 69 messages at or above it were out of scope
# (weather, flights, jokes: 0.8-0.99); "你猜" or "???" stay below it, not understood.
OFF_TOPIC_CONFIDENCE = 0.6


def off_topic(parse: ParseResult) -> bool:
    """Understood, and not the shop's business (weather, flights): the model's own
    out-of-scope class is sure of it. Said so plainly, it is no miss: it neither counts
    towards the fallback policy nor leads to the offer of a person."""
    top = parse.ranking[0] if parse.ranking else None
    return top is not None and top.name == OUT_OF_SCOPE and top.confidence >= OFF_TOPIC_CONFIDENCE
