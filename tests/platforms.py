"""Each platform plug-in's settings pointed at its local fake (the real settings models)."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from adapters.dingtalk import DingTalkSettings
from adapters.slack import SlackSettings
from adapters.wechat import WeChatSettings
from tests.fakes import dingtalk as fdingtalk
from tests.fakes import slack as fslack
from tests.fakes import wechat as fwechat


def wechat_settings(base_url: str, *, aes: bool = False, **extra: Any) -> WeChatSettings:
    """The fake official account's credentials; ``aes`` turns on safe mode."""
    return WeChatSettings(
        token=SecretStr(fwechat.TOKEN),
        app_id=fwechat.APP_ID,
        app_secret=SecretStr(fwechat.SECRET),
        api_base_url=base_url,
        aes_key=SecretStr(fwechat.AES_KEY) if aes else None,
        **extra,
    )


def slack_settings(base_url: str, **extra: Any) -> SlackSettings:
    """The fake Slack app's tokens."""
    return SlackSettings(
        bot_token=SecretStr(fslack.BOT_TOKEN),
        signing_secret=SecretStr(fslack.SIGNING_SECRET),
        api_base_url=base_url,
        **extra,
    )


def dingtalk_settings(base_url: str, **extra: Any) -> DingTalkSettings:
    """The fake DingTalk app's credentials."""
    return DingTalkSettings(
        client_id=fdingtalk.CLIENT_ID,
        client_secret=SecretStr(fdingtalk.CLIENT_SECRET),
        api_base_url=base_url,
        **extra,
    )
