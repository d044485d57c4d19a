"""Every failure a user can act on, each carrying the exact message the user sees.

The texts are a contract (the user's specification): tests compare them verbatim, so they
live here once and nowhere else.
"""

from __future__ import annotations

from pathlib import Path


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


class CopiedLogin(LoginProblem):
    """Two watched Grok homes hold the same refresh token (one was copied from the other).
    Refresh tokens rotate: refreshing the copy would spend the token the other home still
    holds, and the other login would be logged out."""

    kind = "copied_login"

    def __init__(self, path: Path, other: str) -> None:
        super().__init__(
            f"Grok login {path} is a copy of {other}'s (the same refresh token); it is not "
            f"refreshed, since that would log {other} out. Run `grok login` for this home."
        )


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


class AuthUnreadable(TransientFailure):
    """auth.json exists but cannot be read. Not a login problem: `grok login` would not fix a
    permission, a directory in the way or a failing disk, and the login in it may be fine."""

    kind = "auth_unreadable"

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"Cannot read the Grok login {path}: {reason}.")


class AuthNotWritable(TransientFailure):
    """A refresh would spend the refresh token, and a rotated login that cannot be written
    back logs the user out of the Grok CLI: so the watcher does not refresh at all."""

    kind = "auth_not_writable"

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(
            f"Grok login {path} needs a refresh but cannot be written ({reason}); "
            "not refreshing, so the login is kept. Free some space or fix the permissions."
        )


class AuthLockFailed(TransientFailure):
    """The Grok CLI's lock file could not be created or locked for a reason of its own (not
    another holder: that is LoginBusy)."""

    kind = "auth_lock_failed"

    def __init__(self, lock_path: Path | str, reason: str, action: str = "create") -> None:
        super().__init__(f"Cannot {action} the Grok login lock {lock_path}: {reason}.")


class RefreshHTTPError(TransientFailure):
    """The token endpoint answered neither 200 nor a refusal (400/401/403)."""

    kind = "refresh_http_error"

    def __init__(self, status: int) -> None:
        super().__init__(f"Grok login refresh failed (HTTP {status}). Try again later.")
        self.status = status


class RefreshNetworkFailure(TransientFailure):
    kind = "refresh_network"

    def __init__(self) -> None:
        super().__init__("Grok login refresh failed. Check your connection.")


class RefreshResponseChanged(TransientFailure):
    kind = "refresh_response_changed"

    def __init__(self) -> None:
        super().__init__("Grok login refresh response changed.")


class ConfigError(WatcherError):
    """The user's configuration or flags are wrong; exit code 2."""

    kind = "config"
