"""A fake Grok API and token endpoint over real HTTP on 127.0.0.1.

Tests program it with plain data: what each path answers, which access tokens the API accepts,
which refresh tokens the token endpoint honours (and spends). It records every request so a
test can check headers, bodies and how often the token endpoint was asked.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    trickle: float | None = None  # seconds between body bytes (a server that never ends)
    endless: bool = False  # chunked body that never ends

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body
        return json.dumps(self.json if self.json is not None else {}).encode()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when it arrived
    port: int = 0  # the client's port: one connection, one port


@dataclass
class Grant:
    """What the token endpoint answers for one refresh token (which it then spends)."""

    access_token: str
    refresh_token: str | None = None
    expires_in: int | None = 21600
    id_token: str | None = None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up mid-reply is what several tests do on purpose


class FakeGrok:
    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        # What one access token's requests get instead of `routes` (another login's usage).
        self.token_routes: dict[str, dict[str, Reply]] = {}
        self.accepted_tokens: set[str] = set()
        self.grants: dict[str, Grant] = {}
        self.token_reply: Reply | None = None  # overrides grants (e.g. a 503)
        self.on_token_request: Callable[[], None] | None = None
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeGrok:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_base(self) -> str:
        return self.origin + "/v1"

    @property
    def token_url(self) -> str:
        return self.origin + "/oauth2/token"

    # -- what a test asks ---------------------------------------------------------------------
    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def token_posts(self) -> list[Recorded]:
        return self.requests_to("/oauth2/token")

    # -- the server side ----------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once, as real servers do

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        return Handler

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        with self._lock:
            self.requests.append(
                Recorded(
                    method,
                    handler.path,
                    dict(handler.headers),
                    form,
                    port=handler.client_address[1],
                )
            )
        if handler.path == "/oauth2/token":
            reply = self._token(form)
        else:
            reply = self._api(handler)
        self._send(handler, reply)

    def _token(self, form: dict[str, str]) -> Reply:
        if self.on_token_request is not None:
            self.on_token_request()
        if self.token_reply is not None:
            return self.token_reply
        with self._lock:
            grant = self.grants.pop(form.get("refresh_token", ""), None)
            if grant is None:
                return Reply(400, json={"error": "invalid_grant"})
            self.accepted_tokens.add(grant.access_token)
        answer: dict[str, Any] = {"access_token": grant.access_token, "token_type": "Bearer"}
        if grant.refresh_token is not None:
            answer["refresh_token"] = grant.refresh_token
        if grant.expires_in is not None:
            answer["expires_in"] = grant.expires_in
        if grant.id_token is not None:
            answer["id_token"] = grant.id_token
        return Reply(200, json=answer)

    def _api(self, handler: BaseHTTPRequestHandler) -> Reply:
        authorization = handler.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ")
        if not authorization.startswith("Bearer ") or token not in self.accepted_tokens:
            return Reply(401, json={"error": "unauthorized"})
        path = handler.path.removeprefix("/v1")
        own = self.token_routes.get(token, {})
        return own.get(path) or self.routes.get(path, Reply(404, json={"error": "not found"}))

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        try:
            if reply.delay and self._stopping.wait(reply.delay):
                return
            payload = reply.payload()
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json")
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            if reply.endless:
                handler.send_header("Transfer-Encoding", "chunked")
                handler.end_headers()
                chunk = b"x" * 65536
                deadline = time.monotonic() + 20  # bounded: stops by itself
                while time.monotonic() < deadline and not self._stopping.is_set():
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                return
            handler.send_header("Content-Length", str(len(payload) if not reply.trickle else 10**6))
            handler.end_headers()
            if reply.trickle:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and not self._stopping.is_set():
                    handler.wfile.write(b" ")
                    handler.wfile.flush()
                    self._stopping.wait(reply.trickle)
                return
            handler.wfile.write(payload)
        except OSError:
            pass  # the client gave up, as the timeout tests make it
