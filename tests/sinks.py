"""Real receivers for notifications on loopback: a webhook server (Apprise json://) and an
SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Webhook:
    """What Apprise's json:// posted: {"title", "message", "type", ...}."""

    path: str
    payload: dict[str, Any]

    @property
    def title(self) -> str:
        return self.payload.get("title", "")

    @property
    def body(self) -> str:
        return self.payload.get("message", "")


@dataclass
class WebhookSink:
    status: int = 200
    received: list[Webhook] = field(default_factory=list)

    def __post_init__(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if sink.status == 200:
                    sink.received.append(Webhook(self.path, json.loads(raw or b"{}")))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook", user: str | None = None) -> str:
        auth = f"{user}@" if user else ""
        return f"json://{auth}127.0.0.1:{self._server.server_address[1]}{path}"

    def titles(self, path: str | None = None) -> list[str]:
        return [w.title for w in self.received if path is None or w.path.startswith(path)]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
