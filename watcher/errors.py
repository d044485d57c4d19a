"""Every failure a user can act on, each carrying the exact message the user sees.

The texts are a contract (the user's specification): tests compare them verbatim, so they
live here once and nowhere else.
"""

from __future__ import annotations


class WatcherError(Exception):
    """A failure with a one-line message meant for the user. `kind` is stable for --json."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LoginProblem(WatcherError):
    """The user must act on the Grok CLI login (`grok login`); retrying will not help."""


class NotLoggedIn(LoginProblem):
    kind = "not_logged_in"

    def __init__(self) -> None:
        super().__init__("Grok not logged in. Run `grok login`.")


class AuthExpired(LoginProblem):
    kind = "auth_expired"

    def __init__(self) -> None:
        super().__init__("Grok auth expired. Run `grok login` again.")


class AuthInvalid(LoginProblem):
    kind = "auth_invalid"

    def __init__(self) -> None:
        super().__init__("Grok auth invalid. Run `grok login` again.")


class TransientFailure(WatcherError):
    """Usage could not be read this time; the next check may succeed."""


class BillingHTTPError(TransientFailure):
    kind = "http_error"

    def __init__(self, status: int) -> None:
        super().__init__(f"Grok billing request failed (HTTP {status}). Try again later.")
        self.status = status


class NetworkFailure(TransientFailure):
    kind = "network"

    def __init__(self) -> None:
        super().__init__("Grok billing request failed. Check your connection.")


class ResponseChanged(TransientFailure):
    kind = "response_changed"

    def __init__(self) -> None:
        super().__init__("Grok billing response changed.")


class LoginBusy(TransientFailure):
    """Another process held the Grok CLI's auth lock for too long; not an expired login."""

    kind = "login_busy"

    def __init__(self) -> None:
        super().__init__(
            "Grok login is locked by another process (auth.json.lock). Try again later."
        )


class ConfigError(WatcherError):
    """The user's configuration or flags are wrong; exit code 2."""

    kind = "config"
