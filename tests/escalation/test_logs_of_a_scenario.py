"""The logs of a whole escalation scenario, at DEBUG, hold no personal data and no secrets."""

from __future__ import annotations

import io
import json
import logging
import re

from bot.logs import configure_logging
from service.cli.common import secret_values
from tests.escalation.test_wechat_to_slack import (
    STAFF,
    _click,
    _replica,
    _slack,
    _thread_message,
    _until,
    _wechat,
)
from tests.fakes import slack as fslack
from tests.fakes import wechat as fwechat
from tests.helpers import settled

PII = ["13812345678", "11010519491231002X", "6222021234567890123", "zhang.san@example.com"]


async def test_full_scenario_logs_are_json_masked_and_secret_free(make_runtime, fakes) -> None:
    wechat, slack = fakes
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        rt, bot = await _replica(make_runtime, wechat, slack)
        configure_logging(
            level="DEBUG", json_lines=True, secrets=secret_values(rt.settings), stream=stream
        )
        logging.getLogger("slack_sdk").setLevel(
            logging.DEBUG
        )  # its debug lines carry request bodies
        await _wechat(bot, "转人工", "7001")
        ticket = (await rt.route.handoff.tickets.all("pending"))[0]
        await _slack(bot, _click("claim_ticket", ticket.id, "UALICE"), form=True)
        await _until(lambda: any("已接入" in t for t in wechat.texts()))
        said = f"我的手机{PII[0]}，身份证{PII[1]}，卡号{PII[2]}，邮箱 {PII[3]}"
        await _wechat(bot, said, "7002")
        await _until(
            lambda: any(
                "138****5678" in a.get("text", "")
                for _, a in slack.calls
                if a.get("channel") == STAFF
            )
        )
        await _slack(
            bot,
            _thread_message(
                f"好的，已记录 {PII[0]}", "UALICE", ticket.staff_thread, "1700000300.1"
            ),
        )
        await _until(lambda: len(wechat.texts()) >= 2)
        await settled(rt)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    output = stream.getvalue()
    assert output, "the scenario logged nothing"
    for line in output.splitlines():
        json.loads(line)  # every line is JSON
    for value in [*PII, fwechat.SECRET, fslack.BOT_TOKEN, fslack.SIGNING_SECRET, fwechat.TOKEN]:
        assert value not in output, f"{value} leaked into the logs"
    assert re.search(r'"ticket": "' + ticket.id, output), "ticket ids ride along in the logs"
