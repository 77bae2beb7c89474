"""What the intent model reads: the request, without the openers in front of it.

Customers open with a greeting, politeness or a filler before the point:
"您好 我想问一下 退款多久到账", "嗯呢 好的 那发票呢", "hi there, where is my order?".
A classifier that reads the whole text lets the opener outvote the request
(the first three words all say greet). So the openers at the start are cut,
repeatedly, as long as a request remains; a message that is nothing but
openers ("你好 在吗", "hi there") is left whole and stays a greeting.

Thanks or a greeting at the end ("快点发货吧 谢谢啦", "send it asap, thank you!")
can outvote the request the same way; :func:`without_closers` gives the text
without them, which the model reads a second time where the whole reads as a
social turn (:meth:`nlu.model.IntentModel.predict_proba`).

Mentions (``@AmazonHelp``, ``@115821``) and links carry no intent and go too.
"""

from __future__ import annotations

import re

from nlu.normalize import for_classifier

# Cut only at the start. Chinese openers need no separator after them; the
# ASCII ones must end at a word boundary ("hi" is not the start of "his").
_ZH = (
    "你好呀 你好啊 你好 您好呀 您好 哈喽 嗨 亲亲 亲爱的 亲 "
    "在吗 在么 在不在 在不 在嘛 有人吗 有人在吗 "
    "客服你好 客服您好 客服在吗 客服 客服小姐姐 小姐姐 小哥哥 老板 掌柜的 好的 好滴 好嘞 好吧 "
    "嗯嗯 嗯呢 嗯 哦哦 哦 噢 额 呃 诶 哎 那个 是这样的 是这样 请问一下 请问 问一下 问下 "
    "想问一下 想问下 我想问一下 我想问下 我想问 麻烦问一下 麻烦问下 麻烦你 麻烦 打扰一下 打扰了 "
    "咨询一下 我想咨询一下 我想咨询下 想咨询一下 早上好 上午好 中午好 下午好 晚上好 你们好 大家好"
).split()
_EN = (
    "hi there|hello there|hey there|good morning|good afternoon|good evening|excuse me|"
    "hello|hiya|hi|hey|yo|morning|ok so|okay so|ok|okay|so|um|umm|hmm|please|pls|plz|"
    "sorry|thanks in advance|dear"
)
_SEP = r"[\s,，.。!！~～?？、:：;；…\-]*"
_OPENER = re.compile(
    rf"^(?:(?:{'|'.join(sorted(_ZH, key=len, reverse=True))}|(?:{_EN})(?![a-z])){_SEP})+"
)
_NOISE = re.compile(r"@\w+|https?://\S+|\[[\u4e00-\u9fff]{1,4}\]")  # mentions, links, [微笑]
_MIN_REST = 2  # a remainder shorter than this is not a request ("你好 啊")
# Order, tracking and phone numbers say which order, never what is wanted; left in,
# their digit n-grams pulled "我的订单20231122001到哪了" towards whichever intent's
# training lines happened to use similar numbers. The letters of SF1234… stay.
_NUMBER = re.compile(r"\d{6,}")


# Where one request ends and the next may begin: sentence ends, and the words people use to
# add a second matter ("还有", "另外", "顺便问下", "also").
_LINKS = "还有|另外|顺便问一?下|顺便|再就是|再问一?下|and also|also|plus"
_CLAUSE = re.compile(rf"[。！？!?；;\n]+|[,，\s]*(?:{_LINKS})(?![a-z])[,，\s]*")
_MIN_CLAUSE = 4  # characters a clause needs to be a request of its own


def clauses(text: str) -> list[str]:
    """The parts of a message that may each carry a request (one part when it is short)."""
    parts = [p.strip() for p in _CLAUSE.split(text)]
    return [p for p in parts if len(p) >= _MIN_CLAUSE]


# Cut only at the end, and only where a request-sized remainder is left: "问题解决了 谢谢"
# keeps its thanks whole, as that is all it says.
_CLOSER = re.compile(
    r"(?:[\s,，.。!！~～、]*(?:谢谢你们|谢谢您|谢谢你|谢谢啦|谢谢了|谢谢亲|谢谢哈|谢谢|多谢|感谢|谢了|"
    r"在吗|在么|您好|你好|(?<![a-z])(?:thanks|thank you|thx|ty|cheers)))+[\s,，.。!！~～]*$"
)
_MIN_REQUEST = 4  # characters the remainder needs to be read as a request of its own


def without_closers(clean: str) -> str | None:
    """``clean`` (a :func:`request_text`) without the thanks or greeting at its end;
    None when it has none, or when too little would be left to be a request."""
    rest = _CLOSER.sub("", clean)
    return rest if rest != clean and len(rest) >= _MIN_REQUEST else None


def request_text(text: str) -> str:
    """The text the intent model classifies: normalised, openers, mentions and numbers cut."""
    clean = _NUMBER.sub("#", for_classifier(_NOISE.sub(" ", text)) or for_classifier(text) or text)
    rest = _OPENER.sub("", clean)
    return rest if len(rest) >= _MIN_REST else clean
