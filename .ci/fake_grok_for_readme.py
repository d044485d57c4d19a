"""A Grok login and a fake Grok server for README's first command, for .ci/run.

    fake_grok_for_readme.py GROK_HOME

Writes a Grok CLI login into GROK_HOME/auth.json, starts the tests' fake Grok server
(tests/fake_grok.py) on 127.0.0.1 answering for it with 41.7 % of a weekly pool used, prints
the environment that points grok-usage-watcher at both (one NAME=value a line), and serves
until SIGTERM or Ctrl-C. Run it with the test environment's Python (.venv/bin/python).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import ENTRY, cli_entry, pool_body
from tests.fake_grok import FakeGrok, Reply

ACCESS_TOKEN = "readme-access-token"


def main(grok_home: Path) -> None:
    server = FakeGrok().start()
    server.accepted_tokens.add(ACCESS_TOKEN)
    now = datetime.now(UTC)
    server.routes["/billing?format=credits"] = Reply(
        json=pool_body(now - timedelta(days=2), now + timedelta(days=5), 41.7)
    )
    server.routes["/settings"] = Reply(json={"subscription_tier_display": "SuperGrok"})
    grok_home.mkdir(parents=True, exist_ok=True)
    auth = grok_home / "auth.json"
    auth.write_text(json.dumps({ENTRY: cli_entry(ACCESS_TOKEN)}, indent=2))
    auth.chmod(0o600)

    print(f"GROK_HOME={grok_home}")
    print(f"GROK_CLI_CHAT_PROXY_BASE_URL={server.api_base}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            signal.pause()  # SIGTERM's default action ends the process; Ctrl-C ends here


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]).absolute())
