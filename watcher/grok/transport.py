"""HTTP for one reading: explicit timeouts, a size cap, no redirects, errors mapped once.

Every request made while reading usage goes through here, so the rules that protect the user
hold everywhere: a timeout on connect and on each read (capped by the reading's deadline),
bodies never read past 1 MiB, no redirect that could carry the bearer token elsewhere, no
~/.netrc credentials replacing ours, and every failure turned into the user's one-line message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import NamedTuple

import requests

from watcher import __version__
from watcher.errors import NetworkFailure, ResponseChanged
from watcher.grok.deadline import Deadline, DeadlineExceeded

USER_AGENT = f"grok-usage-watcher/{__version__}"
MAX_BODY_BYTES = 1024 * 1024
ERROR_BODY_BYTES = 64 * 1024  # with -v, an error page is read this far (and this long)
ERROR_BODY_SECONDS = 0.5  # to log its length

log = logging.getLogger(__name__)


class Response(NamedTuple):
    status: int
    body: bytes


class NetworkFailureBeforeSending(NetworkFailure):
    """The connection was never made, so the request cannot have reached the server."""


class _HeadersOnly(requests.auth.AuthBase):
    """Our headers already carry the credentials. Passing an explicit auth object stops
    requests from replacing them with a matching ~/.netrc entry."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class Transport:
    def __init__(
        self, timeout_seconds: float, deadline: Deadline, session: requests.Session | None = None
    ) -> None:
        """`session`: one shared by the readings of one check (every account's), so that a
        second login costs a request, not a new connection; whoever made it closes it.
        Without one, this reading has its own. trust_env stays on either way, so that
        HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE work."""
        self._timeout = timeout_seconds
        self._deadline = deadline
        self._own_session = session is None
        self._session = requests.Session() if session is None else session

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    def get(self, url: str, headers: Mapping[str, str]) -> Response:
        return self._send("GET", url, dict(headers))

    def post_form(self, url: str, form: Mapping[str, str]) -> Response:
        return self._send("POST", url, {"Accept": "application/json"}, dict(form))

    def _send(
        self, method: str, url: str, headers: dict[str, str], form: dict[str, str] | None = None
    ) -> Response:
        headers["User-Agent"] = USER_AGENT
        started = time.monotonic()
        try:
            per_step = self._deadline.cap(self._timeout)
            response = self._session.request(
                method,
                url,
                headers=headers,
                timeout=(per_step, per_step),
                stream=True,
                allow_redirects=False,
                auth=_HeadersOnly(),
                data=form,
            )
            length: str | None = None  # of an error body, for -v; None: len(body)
            with response:
                if response.status_code == 200:
                    body = self._read_capped(response)
                else:  # the status is the answer; the body's length only for -v
                    body = b""
                    length = (
                        _error_body_length(response) if log.isEnabledFor(logging.DEBUG) else "?"
                    )
        except DeadlineExceeded:
            log.debug("%s %s: deadline reached after %.0f ms", method, url, _ms_since(started))
            raise NetworkFailure() from None
        except requests.exceptions.RequestException as exc:
            log.debug("%s %s: %s after %.0f ms", method, url, _describe(exc), _ms_since(started))
            if _never_connected(exc):
                raise NetworkFailureBeforeSending() from None
            raise NetworkFailure() from None
        log.debug(
            "%s %s -> HTTP %d (%.0f ms, %s)",
            method,
            url,
            response.status_code,
            _ms_since(started),
            f"{len(body) if length is None else length} bytes",
        )
        return Response(response.status_code, body)

    def _read_capped(self, response: requests.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=64 * 1024):
            self._deadline.check()
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                log.debug("response body exceeds %d bytes; not read further", MAX_BODY_BYTES)
                raise ResponseChanged()
        return b"".join(chunks)


def _error_body_length(response: requests.Response) -> str:
    """How long an error answer's body is, for -v (a log that says "0 bytes" for a 25-byte
    error page misleads): its Content-Length, else what arrives within ERROR_BODY_SECONDS,
    up to ERROR_BODY_BYTES. Never more: a slow error body must not hold the reading (a 401
    still has a refresh to make within the deadline)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit():
        return declared
    size = 0
    give_up_at = time.monotonic() + ERROR_BODY_SECONDS
    try:
        for chunk in response.iter_content(chunk_size=512):
            size += len(chunk)
            if size > ERROR_BODY_BYTES or time.monotonic() > give_up_at:
                return f"{size} or more"
    except (requests.exceptions.RequestException, DeadlineExceeded):
        return f"{size} or more"
    return str(size)


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _never_connected(exc: requests.exceptions.RequestException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        reason = exc.args[0]
        if isinstance(reason, MaxRetryError):
            return isinstance(reason.reason, NewConnectionError)
    return False


def _describe(exc: BaseException) -> str:
    # Exception texts from requests may quote the URL, never our headers or form body.
    return f"{type(exc).__name__}: {exc}"
