"""Static checks of a bot's dialog configuration, for ``bot check-config``.

Reports unreachable steps, intents that no training data defines, slots that
nothing can fill, templates that name unknown slots, results or label tables,
and templates or hooks that do not exist.
"""

from __future__ import annotations

from collections.abc import Iterable

from dialog.config import DialogConfig, Flow
from dialog.flows import slot_names
from dialog.templates import BUILTIN_FILTERS, filters, placeholders
from dialog.validators import resolve_hook

BUILTIN_TEMPLATES = (
    "welcome",
    "sensitive",
    "not_understood",
    "offer_human",
    "reask_failed",
    "cancelled",
    "resume",
    "thanks",
    "corrected",
    "button_expired",
    "bot_identity",
    "abuse",
)


def reachable(flow: Flow) -> set[str]:
    """Step ids reachable from the first step (in order, or by on_error/on_deny jumps)."""
    ids = [s.id for s in flow.steps]
    seen: set[str] = set()
    todo = [0] if ids else []
    while todo:
        i = todo.pop()
        if i >= len(ids) or ids[i] in seen:
            continue
        step = flow.steps[i]
        seen.add(step.id)
        for target in (step.on_error, step.on_deny):
            if target in ids:
                todo.append(ids.index(target))
        if not step.end or step.when or step.unless:  # a conditional end may be skipped
            todo.append(i + 1)
    return seen


def problems(config: DialogConfig, intents: Iterable[str]) -> list[str]:
    """Every problem found; empty when the configuration is sound."""
    known = set(intents)
    out: list[str] = []
    for name, flow in config.flows.items():
        ids = {s.id for s in flow.steps}
        out += [
            f"flow {name}: trigger intent {t!r} has no training data"
            for t in flow.triggers
            if t not in known
        ]
        out += [
            f"flow {name}: step {s.id!r} is unreachable"
            for s in flow.steps
            if s.id not in reachable(flow)
        ]
        for step in flow.steps:
            for target in (step.on_error, step.on_deny):
                if target and target not in ids:
                    out.append(f"flow {name}: step {step.id!r} jumps to unknown step {target!r}")
            if step.template and step.template not in config.templates:
                out.append(f"flow {name}: step {step.id!r} uses unknown template {step.template!r}")
        out += [
            f"flow {name}: slot {n!r} is not defined"
            for n in slot_names(flow)
            if n not in config.slots
        ]
        stores = {s.action.store for s in flow.steps if s.action}
        out += [
            f"flow {name}: step {s.id!r} tests {c!r}, but no action stores {c.split('.')[0]!r}"
            for s in flow.steps
            for c in (s.when, s.unless)
            if c and "." in c and c.split(".")[0] not in stores
        ]
    out += [f"global intent {i!r} has no training data" for i in config.globals if i not in known]
    out += [
        f"global intent {i!r} uses unknown template {t!r}"
        for i, rule in config.globals.items()
        for t in (rule.reply, rule.idle_reply)
        if t and t not in config.templates
    ]
    for name, spec in config.slots.items():
        if spec.entity is None and not spec.free_text:
            out.append(f"slot {name!r}: nothing fills it (no entity, not free text)")
        if spec.prompt not in config.templates:
            out.append(f"slot {name!r}: prompt template {spec.prompt!r} is missing")
        if spec.validate_ and spec.validate_.hook:
            try:
                resolve_hook(spec.validate_.hook)
            except ValueError as exc:
                out.append(f"slot {name!r}: {exc}")
    out += _template_problems(config)
    return out


def _template_problems(config: DialogConfig) -> list[str]:
    stores = {s.action.store for f in config.flows.values() for s in f.steps if s.action}
    allowed = set(config.slots) | stores | {"error"}
    out = [f"template {t!r} is missing" for t in BUILTIN_TEMPLATES if t not in config.templates]
    for template_id, template in config.templates.items():
        for field in placeholders(template):
            if field.split(".")[0] not in allowed:
                out.append(f"template {template_id!r} names unknown slot {field!r}")
        for name in filters(template):
            if name not in BUILTIN_FILTERS and name not in config.labels:
                out.append(f"template {template_id!r} uses unknown filter or labels {name!r}")
    return out
