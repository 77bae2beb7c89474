"""Reply templates with slot interpolation, language variants and localised values.

``{order_id}`` names a slot, ``{order.status}`` a field of a stored action
result. ``{order.status|order_status}`` shows the value through a filter: the
built-in ``money`` (``459.00 元`` / ``¥459.00``) and ``items`` (product codes
with quantities), or a label table of ``responses.yml`` (``labels:``) that maps
the backend's codes to each language's words. Backends answer in codes, so a
reply is wholly in the conversation's language whatever the backend speaks.

A value that is missing renders as a dash and is logged, so a reply never
shows a raw ``{placeholder}``; ``bot check-config`` reports templates that name
unknown slots or filters before that can happen.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from bot.models import Button, Reply

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{([a-zA-Z_][\w]*(?:\.[\w]+)*)(?:\|(\w+))?\}")
MISSING = "—"
BUILTIN_FILTERS = ("money", "items")
OTHER = "_other"  # a label table's entry for codes it does not list

Labels = Mapping[str, Mapping[str, Mapping[str, str]]]  # table -> code -> lang -> text


def lookup(values: Mapping[str, Any], path: str) -> Any:
    """``order.status`` -> values["order"]["status"]; None when absent."""
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def fill(
    text: str,
    values: Mapping[str, Any],
    *,
    template_id: str = "",
    lang: str = "zh-CN",
    labels: Labels | None = None,
) -> str:
    """Replace every placeholder; missing ones become a dash (and are logged)."""

    def sub(m: re.Match[str]) -> str:
        value = lookup(values, m.group(1))
        if value is None or value == "":
            log.warning(
                "template value missing", extra={"template": template_id, "field": m.group(1)}
            )
            return MISSING
        if m.group(2):
            return show(value, m.group(2), lang, labels or {})
        if isinstance(value, list):
            return joined([str(v) for v in value], lang)
        return str(value)

    return PLACEHOLDER.sub(sub, text)


def joined(parts: list[str], lang: str) -> str:
    """A list as each language writes one."""
    return ("、" if lang == "zh-CN" else ", ").join(parts)


def label(labels: Labels, table: str, code: Any, lang: str) -> str:
    """The words for ``code`` in ``table``; the code itself when nothing is listed."""
    entries = labels.get(table, {})
    entry = entries.get(str(code)) or entries.get(OTHER)
    if entry is None:  # a name the table need not list, such as a company's invoice title
        log.debug("no label", extra={"table": table, "code": str(code)})
        return str(code)
    return entry.get(lang) or entry.get("zh-CN") or str(code)


def show(value: Any, name: str, lang: str, labels: Labels) -> str:
    """``value`` through filter ``name``."""
    if name == "money":
        amount = f"{float(value):.2f}"
        return f"{amount} 元" if lang == "zh-CN" else f"¥{amount}"
    if name == "items":
        items = value if isinstance(value, list) else [value]
        return joined([_item(i, lang, labels) for i in items], lang)
    return label(labels, name, value, lang)


def _item(item: Any, lang: str, labels: Labels) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    return f"{label(labels, 'product', item.get('sku'), lang)} x{item.get('qty', 1)}"


def placeholders(template: Mapping[str, Any]) -> set[str]:
    """Every field a template names, across its languages."""
    return {field for field, _ in _placeholders(template)}


def filters(template: Mapping[str, Any]) -> set[str]:
    """Every filter a template uses, across its languages."""
    return {name for _, name in _placeholders(template) if name}


def _placeholders(template: Mapping[str, Any]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for key, text in template.items():
        if key != "buttons" and isinstance(text, str):
            found.update(PLACEHOLDER.findall(text))
    return found


def buttons(specs: list[Mapping[str, Any]], lang: str) -> tuple[Button, ...]:
    """Buttons as written in ``responses.yml`` or ``faq.yml``, titled in ``lang``."""
    return tuple(
        Button(
            title=str(b["title"].get(lang) or b["title"].get("zh-CN")),
            payload=str(b["payload"]),
        )
        for b in specs
    )


class Templates:
    """Renders template ids into :class:`Reply` objects."""

    def __init__(
        self, templates: Mapping[str, Mapping[str, Any]], labels: Labels | None = None
    ) -> None:
        self._templates = templates
        self.labels: Labels = labels or {}

    def __contains__(self, template_id: str) -> bool:
        return template_id in self._templates

    def render(self, template_id: str, lang: str, values: Mapping[str, Any]) -> Reply:
        """The reply for ``template_id`` in ``lang`` (zh-CN when that variant is missing)."""
        template = self._templates[template_id]
        text = template.get(lang) or template.get("zh-CN") or ""
        filled = fill(str(text), values, template_id=template_id, lang=lang, labels=self.labels)
        return Reply(text=filled, buttons=buttons(template.get("buttons", []), lang))
