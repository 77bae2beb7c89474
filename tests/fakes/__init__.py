"""Local fake platform servers (WeChat, Slack, DingTalk) that speak the real wire protocols."""
