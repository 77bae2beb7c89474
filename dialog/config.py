"""The dialog configuration, validated: flows, slots, globals, templates and FAQs.

Read from ``<config dir>/flows.yml``, ``responses.yml`` (templates and the
labels of backend codes) and ``faq.yml``. An
invalid file raises :class:`~bot.errors.ConfigError` naming the file and the
field, at start-up rather than mid-conversation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from bot.errors import ConfigError

Lang = str
Texts = dict[Lang, str]


class Validation(BaseModel):
    """How a slot value is checked: a regex, a list of choices, or a named Python hook."""

    regex: str | None = None
    choices: list[str] | None = None
    hook: str | None = None  # "module:function", called with the value, returns the clean value


class SlotSpec(BaseModel):
    """A piece of information a flow collects."""

    entity: str | None = None  # entity type that fills it
    free_text: bool = False  # any answer to its prompt fills it
    prompt: str  # template id
    validate_: Validation | None = Field(default=None, alias="validate")
    max_reasks: int = 2
    remember: bool = False  # carried over into later flows of the conversation


class Action(BaseModel):
    """An HTTP call to the business backend."""

    method: Literal["GET", "POST"] = "GET"
    path: str  # may name slots: /orders/{order_id}
    body: dict[str, str] = Field(default_factory=dict)  # field -> slot name
    store: str  # result saved under this name for templates: {order.status}


class Step(BaseModel):
    """One state of a flow."""

    id: str
    type: Literal["slot", "confirm", "action", "reply", "escalate"]
    slot: str | None = None
    template: str | None = None
    action: Action | None = None
    on_error: str | None = None  # step id to go to when the action fails
    on_deny: str | None = None  # for confirm: step id (default: cancel the flow)
    reason: str | None = None  # for escalate
    # run only when / skip when this slot is filled, or this result field is true
    # ("order.can_return"): a result field lets a flow refuse before it asks to confirm
    when: str | None = None
    unless: str | None = None
    end: bool = False

    @model_validator(mode="after")
    def _fields_for_type(self) -> Step:
        needs = {"slot": "slot", "confirm": "template", "action": "action", "reply": "template"}
        field = needs.get(self.type)
        if field and getattr(self, field) is None:
            raise ValueError(f"step {self.id!r} of type {self.type} needs '{field}'")
        return self


class Flow(BaseModel):
    """A named state machine, started by its trigger intents."""

    triggers: list[str]
    steps: list[Step]
    done: str | None = None  # template said when the flow completes


class GlobalRule(BaseModel):
    """What a global intent does, from any state."""

    reply: str | None = None
    # said instead of ``reply`` by a ``cancel`` rule when nothing is under way: "OK,
    # cancelled" to a first message that cancels nothing reads as if something was
    idle_reply: str | None = None
    escalate: str | None = None
    cancel: bool = False
    resume: bool = True  # re-ask the pending question afterwards


class DialogConfig(BaseModel):
    """Everything the engine needs."""

    flows: dict[str, Flow]
    slots: dict[str, SlotSpec]
    globals: dict[str, GlobalRule] = Field(default_factory=dict)
    templates: dict[str, dict[str, Any]] = Field(default_factory=dict)
    labels: dict[str, dict[str, Texts]] = Field(default_factory=dict)  # code -> words
    faqs: list[dict[str, Any]] = Field(default_factory=list)
    confidence_threshold: float = 0.0
    faq_threshold: float = 0.45
    faq_first: float = 0.75


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load_dialog_config(config_dir: Path) -> DialogConfig:
    """Load and validate the dialog files of a bot."""
    flows = _read(config_dir / "flows.yml")
    responses = _read(config_dir / "responses.yml")
    faq_path = config_dir / "faq.yml"
    faqs = _read(faq_path).get("faqs", []) if faq_path.exists() else []
    try:
        return DialogConfig(
            **flows,
            templates=responses.get("templates", {}),
            labels=responses.get("labels", {}),
            faqs=faqs,
        )
    except (ValidationError, TypeError) as exc:
        raise ConfigError(f"{config_dir / 'flows.yml'}: {exc}") from None
