"""Templates show backend codes in the conversation's language, and money as money."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialog.config import load_dialog_config
from dialog.templates import Templates, fill

CONFIG = Path(__file__).resolve().parents[2] / "config"
LABELS = {
    "carrier": {
        "SF": {"zh-CN": "顺丰速运", "en": "SF Express"},
        "_other": {"zh-CN": "快递", "en": "Courier"},
    }
}


@pytest.mark.parametrize(("lang", "shown"), [("zh-CN", "459.00 元"), ("en", "¥459.00")])
def test_money_has_two_decimals_and_the_language_currency_form(lang: str, shown: str) -> None:
    assert fill("{amount|money}", {"amount": 459.0}, lang=lang) == shown


def test_codes_are_shown_in_the_language_and_unknown_codes_fall_back() -> None:
    assert fill("{c|carrier}", {"c": "SF"}, lang="en", labels=LABELS) == "SF Express"
    assert fill("{c|carrier}", {"c": "SF"}, lang="zh-CN", labels=LABELS) == "顺丰速运"
    assert fill("{c|carrier}", {"c": "ZZ"}, lang="en", labels=LABELS) == "Courier"


def test_items_are_listed_the_way_each_language_lists() -> None:
    labels = {
        "product": {"a": {"zh-CN": "保温杯", "en": "bottle"}, "b": {"zh-CN": "包", "en": "bag"}}
    }
    items = [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]
    assert fill("{i|items}", {"i": items}, lang="zh-CN", labels=labels) == "保温杯 x2、包 x1"
    assert fill("{i|items}", {"i": items}, lang="en", labels=labels) == "bottle x2, bag x1"


def test_every_bundled_label_and_template_has_both_languages() -> None:
    config = load_dialog_config(CONFIG)
    for table, codes in config.labels.items():
        for code, words in codes.items():
            assert {"zh-CN", "en"} <= set(words), (table, code)
    for template_id, template in config.templates.items():
        assert {"zh-CN", "en"} <= set(template), template_id


def test_a_bundled_shipment_reply_reads_naturally_in_english() -> None:
    config = load_dialog_config(CONFIG)
    templates = Templates(config.templates, config.labels)
    shipment = {"carrier": "YTO", "tracking_no": "YT1", "latest": "signed_by_recipient"}
    reply = templates.render("shipment_delivered", "en", {"shipment": shipment})
    assert reply.text == "YTO Express parcel YT1 has been delivered (signed for by the recipient)."
