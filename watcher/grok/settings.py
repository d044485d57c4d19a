"""What the Grok reader is told by the config: the login file, the endpoints, the billing shape
to ask for, and how long a reading may take."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple

# "auto": by what the API answers; "credits": the weekly pool; "legacy": the monthly meter.
BillingMode = Literal["auto", "credits", "legacy"]

DEFAULT_API_BASE = "https://cli-chat-proxy.grok.com/v1"
DEFAULT_TOKEN_URL = "https://auth.x.ai/oauth2/token"
API_BASE_ENV = "GROK_CLI_CHAT_PROXY_BASE_URL"


class GrokSettings(NamedTuple):
    auth_file: Path
    api_base: str = DEFAULT_API_BASE
    token_url: str = DEFAULT_TOKEN_URL
    billing: BillingMode = "auto"
    timeout_seconds: float = 15.0
