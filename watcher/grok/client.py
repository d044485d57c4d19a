"""The Grok endpoints: `GET /billing` (either shape) and `GET /settings`, with the seed's headers.

Knows which requests to make and what their status codes mean; what a body means is
`billing.py`'s business, where a token comes from is `login.py`'s.
"""

from __future__ import annotations

import json
import logging
from typing import NamedTuple

from watcher.core.usage import Usage
from watcher.errors import (
    AuthExpired,
    BillingHTTPError,
    NetworkFailure,
    ResponseChanged,
    TransientFailure,
)
from watcher.grok.billing import parse_billing_body
from watcher.grok.login import Credentials, Login
from watcher.grok.settings import BillingMode
from watcher.grok.transport import Response, Transport

CREDITS_PATH = "/billing?format=credits"
LEGACY_PATH = "/billing"
SETTINGS_PATH = "/settings"

log = logging.getLogger(__name__)


class MeterPolicy(NamedTuple):
    """billing "auto": which meter may answer. Until a pool has answered for this login, the
    body decides (the old URL is asked when ?format=credits is unknown); from then on a failed
    pool request is a failed reading, unless the state says the pool has failed for a day --
    then the monthly meter may answer instead."""

    pool_answered: bool = False
    monthly_instead: bool = False


NO_HISTORY = MeterPolicy()


class GrokClient:
    def __init__(
        self, api_base: str, billing_mode: BillingMode, transport: Transport, login: Login
    ) -> None:
        self._api_base = api_base.rstrip("/")
        self._billing_mode = billing_mode
        self._transport = transport
        self._login = login
        self._credentials: Credentials | None = None
        # The pool request's failure, when the pool was asked and did not answer.
        self.pool_failure: TransientFailure | None = None

    def read_usage(self, with_plan: bool = True, policy: MeterPolicy = NO_HISTORY) -> Usage:
        if self._billing_mode == "legacy":
            usage = self._billing(LEGACY_PATH)
        elif self._billing_mode == "credits":
            usage = self._billing(CREDITS_PATH)
        else:
            usage = self._auto(policy)
        return usage._replace(plan=self.read_plan()) if with_plan else usage

    def _auto(self, policy: MeterPolicy) -> Usage:
        self._current_credentials()  # a login problem is not the pool failing
        try:
            response = self._authorized_get(CREDITS_PATH)
            if not policy.pool_answered and response.status in (400, 404, 405):
                # Accounts or proxies that predate the pool do not know ?format=credits.
                log.debug(
                    "%s answered HTTP %d; asking %s", CREDITS_PATH, response.status, LEGACY_PATH
                )
                return self._billing(LEGACY_PATH)
            if response.status != 200:
                raise BillingHTTPError(response.status)
            usage = parse_billing_body(response.body, CREDITS_PATH)
            if policy.pool_answered and usage.meter != "pool":
                raise ResponseChanged()  # this login's pool answer lost its pool
            return usage
        except (BillingHTTPError, NetworkFailure, ResponseChanged) as failure:
            if not policy.pool_answered:
                raise
            self.pool_failure = failure
            if not policy.monthly_instead:
                raise
            log.debug("the pool failed for a day (%s); asking %s", failure.message, LEGACY_PATH)
            try:
                usage = self._billing(LEGACY_PATH)
            except TransientFailure:
                raise failure from None
            if usage.meter != "monthly":
                raise failure from None
            return usage

    def _billing(self, path: str) -> Usage:
        response = self._authorized_get(path)
        if response.status != 200:
            raise BillingHTTPError(response.status)
        return parse_billing_body(response.body, path)

    @property
    def credentials(self) -> Credentials | None:
        """The login the last request used (after any renewal)."""
        return self._credentials

    def read_plan(self) -> str | None:
        """The plan label, or None: a failure here never fails a reading."""
        try:
            response = self._transport.get(self._url(SETTINGS_PATH), self._headers())
        except TransientFailure:
            return None
        if response.status != 200:
            log.debug("%s answered HTTP %d; plan unknown", SETTINGS_PATH, response.status)
            return None
        try:
            settings = json.loads(response.body)
        except ValueError:
            return None
        plan = settings.get("subscription_tier_display") if isinstance(settings, dict) else None
        return (plan.strip() or None) if isinstance(plan, str) else None

    def _authorized_get(self, path: str) -> Response:
        response = self._transport.get(self._url(path), self._headers())
        if response.status in (401, 403):
            log.debug("%s answered HTTP %d; renewing the login once", path, response.status)
            self._credentials = self._login.renew_after_rejection(self._current_credentials())
            response = self._transport.get(self._url(path), self._headers())
            if response.status in (401, 403):
                raise AuthExpired()
        return response

    def _current_credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = self._login.credentials()
        return self._credentials

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._current_credentials().access_token}",
            "X-XAI-Token-Auth": "xai-grok-cli",
            "Accept": "application/json",
        }

    def _url(self, path: str) -> str:
        return self._api_base + path
