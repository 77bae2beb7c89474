"""Reply templates with slot interpolation and language variants.

``{order_id}`` names a slot, ``{order.status}`` a field of a stored action
result. A value that is missing renders as a dash and is logged, so a reply
never shows a raw ``{placeholder}``; ``bot check-config`` reports templates
that name unknown slots before that can happen.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from bot.models import Button, Reply

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\{([a-zA-Z_][\w]*(?:\.[\w]+)*)\}")
MISSING = "—"


def lookup(values: Mapping[str, Any], path: str) -> Any:
    """``order.status`` -> values["order"]["status"]; None when absent."""
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def fill(text: str, values: Mapping[str, Any], *, template_id: str = "") -> str:
    """Replace every placeholder; missing ones become a dash (and are logged)."""

    def sub(m: re.Match[str]) -> str:
        value = lookup(values, m.group(1))
        if value is None or value == "":
            log.warning(
                "template value missing", extra={"template": template_id, "field": m.group(1)}
            )
            return MISSING
        if isinstance(value, list):
            return "、".join(str(v) for v in value)
        return str(value)

    return PLACEHOLDER.sub(sub, text)


def placeholders(template: Mapping[str, Any]) -> set[str]:
    """Every field a template names, across its languages."""
    found: set[str] = set()
    for key, text in template.items():
        if key != "buttons" and isinstance(text, str):
            found.update(PLACEHOLDER.findall(text))
    return found


class Templates:
    """Renders template ids into :class:`Reply` objects."""

    def __init__(self, templates: Mapping[str, Mapping[str, Any]]) -> None:
        self._templates = templates

    def __contains__(self, template_id: str) -> bool:
        return template_id in self._templates

    def render(self, template_id: str, lang: str, values: Mapping[str, Any]) -> Reply:
        """The reply for ``template_id`` in ``lang`` (zh-CN when that variant is missing)."""
        template = self._templates[template_id]
        text = template.get(lang) or template.get("zh-CN") or ""
        buttons = tuple(
            Button(
                title=str(b["title"].get(lang) or b["title"].get("zh-CN")),
                payload=str(b["payload"]),
            )
            for b in template.get("buttons", [])
        )
        return Reply(text=fill(str(text), values, template_id=template_id), buttons=buttons)
