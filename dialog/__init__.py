"""The dialog engine: declarative flows, slots, FAQ, templates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.brain import Brain

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from dialog.flows import FlowRunner


def build_brain(runtime: Runtime) -> Brain:
    """The bot-mode brain: the bot's NLU, then the dialog engine over its flows.

    In demo mode (no ``BACKEND_BASE_URL``) the demo order backend is started
    with the runtime and the flows' actions call it.
    """
    from dialog.config import load_dialog_config
    from dialog.engine import DialogEngine
    from dialog.flows import FlowRunner
    from dialog.templates import Templates
    from nlu.loader import load_nlu

    settings = runtime.settings
    config = load_dialog_config(settings.config_dir)
    nlu = load_nlu(settings)
    runner = FlowRunner(config, Templates(config.templates, config.labels), None)
    runtime.add_service("nlu", start=nlu.start, stop=nlu.stop)
    runtime.add_readiness_check("model", nlu.ready)
    _wire_backend(runtime, runner)
    engine = DialogEngine(config, nlu=nlu, runner=runner)
    runtime.nlu = nlu
    return engine


def _wire_backend(runtime: Runtime, runner: FlowRunner) -> None:
    from dialog.actions import Backend
    from dialog.demo_backend import DemoBackend, start_demo_backend

    settings = runtime.settings
    if settings.backend_base_url:
        backend = Backend(settings.backend_base_url)
        runner.backend = backend
        runtime.add_service("backend", start=_noop, stop=backend.close)
        return
    if not settings.demo_backend:
        return
    demo: dict[str, DemoBackend] = {}

    async def start() -> None:
        demo["server"] = await start_demo_backend()
        runner.backend = Backend(demo["server"].base_url)

    async def stop() -> None:
        if runner.backend is not None:
            await runner.backend.close()
        if "server" in demo:
            await demo["server"].stop()

    runtime.add_service("demo-backend", start=start, stop=stop)


async def _noop() -> None:
    return None
