"""`[export] listen`: the service's metrics on HTTP `GET /metrics`, for a Prometheus that
scrapes it, served by a thread of the standard library's HTTP server (imported only when
`listen` is set). It serves what the last check left; it never reads Grok itself."""

from __future__ import annotations

import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the text exposition format


class MetricsEndpoint:
    def __init__(self, host: str, port: int) -> None:
        self._text = b""  # nothing until the first check has run
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/metrics":
                    self.send_error(404, "only /metrics is here")
                    return
                body = endpoint.text()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a scrape every 15 s is not news for the journal

        server_class = type(
            "MetricsServer",
            (ThreadingHTTPServer,),
            {"address_family": _family(host), "daemon_threads": True},
        )
        self._server = server_class((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def update(self, text: str) -> None:
        with self._lock:
            self._text = text.encode("utf-8")

    def text(self) -> bytes:
        with self._lock:
            return self._text

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return False


def _family(host: str) -> int:
    import socket

    return socket.AF_INET6 if ":" in host else socket.AF_INET
