"""`bot check-config` finds what is wrong with a bot's dialog before it runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from bot.paths import bundled_config_dir
from service.cli import main


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "mybot"
    shutil.copytree(
        bundled_config_dir(), target, ignore=shutil.ignore_patterns("__pycache__", "*.py")
    )
    return target


def _run(config: Path, tmp_path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["--config", str(config), "--data-dir", str(tmp_path / "d"), "check-config"]
    )
    return result.exit_code, result.output


def test_bundled_bot_is_clean(tmp_path: Path) -> None:
    code, output = _run(bundled_config_dir(), tmp_path)
    assert code == 0 and output.strip().endswith("ok")
    assert "platforms:   console, web" in output


def test_problems_are_reported(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    flows = (config / "flows.yml").read_text(encoding="utf-8")
    flows = flows.replace("triggers: [invoice]", "triggers: [invoice, refund_please]")
    flows = flows.replace(
        "      - {id: answer, type: reply, template: order_status_result, end: true}\n"
        "      - {id: not_found,",
        "      - {id: answer, type: reply, template: order_status_result, end: true}\n"
        "      - {id: orphan, type: reply, template: thanks, end: true}\n"
        "      - {id: not_found,",
    )
    flows = flows.replace("unless: order.can_cancel", "unless: ordr.can_cancel")
    flows = flows.replace("idle_reply: nothing_to_cancel", "idle_reply: nothing_to_cancl")
    (config / "flows.yml").write_text(flows, encoding="utf-8")
    responses = (config / "responses.yml").read_text(encoding="utf-8")
    responses = responses.replace("订单 {order_id} 当前状态", "订单 {order_number} 当前状态")
    responses = responses.replace(
        "{shipment.carrier|carrier} 运单", "{shipment.carrier|courier} 运单"
    )
    (config / "responses.yml").write_text(responses, encoding="utf-8")
    code, output = _run(config, tmp_path)
    assert code == 1
    assert "trigger intent 'refund_please' has no training data" in output
    assert "step 'orphan' is unreachable" in output
    assert "names unknown slot 'order_number'" in output
    assert "uses unknown filter or labels 'courier'" in output
    assert "tests 'ordr.can_cancel', but no action stores 'ordr'" in output
    assert "global intent 'cancel' uses unknown template 'nothing_to_cancl'" in output


def test_invalid_yaml_is_a_clear_error(tmp_path: Path) -> None:
    config = _copy(tmp_path)
    (config / "flows.yml").write_text("flows: [unclosed", encoding="utf-8")
    code, output = _run(config, tmp_path)
    assert code == 1 and "not valid YAML" in output
