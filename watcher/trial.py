"""--test-notify: one test message to every target, one line on each.

The targets are those a check sends to (`targets.load_targets`), so a service listed twice is
tested once. A URL Apprise cannot read stops it before anything is sent: a person is there to
fix it, and a test that half-ran would hide it among the failures.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from watcher.config import Config
from watcher.core.model import Severity
from watcher.errors import ConfigError

if TYPE_CHECKING:  # targets imports delivery; both wait for the run, like Apprise
    from watcher.core.delivery import Outcome
    from watcher.notify.targets import Target

# cli's exit codes; imported from there they would tie this module to the whole CLI.
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

TEST_TITLE = "Grok Build: test notification"
NOTHING_CONFIGURED = (
    "No notification target is configured ([notify] urls or config). Alerts are "
    "printed to standard output and, when a desktop session bus and dbus-python are "
    "available, shown as desktop notifications. Testing those:"
)


def run_test_notify(
    config: Config, environ: Mapping[str, str], out: TextIO, only: Sequence[str] = ()
) -> int:
    """0 when every target took the test message, 1 when one failed, 2 when a URL or an
    Apprise config file cannot be read (one line on stderr, nothing sent). `only`: the
    accounts (--account) whose targets are tested; the message names them."""
    from watcher.check import check_account_targets
    from watcher.core.addressing import reaches
    from watcher.core.delivery import Message
    from watcher.logins import chosen
    from watcher.notify.targets import checked_targets, configured, send

    try:
        accounts = chosen(config, only)
        targets = checked_targets(config.notify, environ)
        check_account_targets(config, [t.route for t in targets])
    except ConfigError as error:
        print(error.message, file=sys.stderr)
        return EXIT_USAGE
    if only:
        targets = [t for t in targets if any(reaches(t.route, a.targets) for a in accounts)]
    if not configured(config.notify):
        print(NOTHING_CONFIGURED, file=out)
    names = ", ".join(a.name for a in accounts) if only and config.named_accounts else None
    message = Message(
        title=f"Grok Build ({names}): test notification" if names else TEST_TITLE,
        body=(
            "A test from grok-usage-watcher: alerts about your Grok Build usage"
            + (f" ({names})" if names else "")
            + " arrive here."
        ),
        severity=Severity.INFO,
        alert_keys=("test",),
    )
    all_ok = True
    for target in targets:
        outcome = send(target, message, out)
        all_ok &= outcome.ok
        print(result_line(target, outcome), file=out, flush=True)
    return EXIT_OK if all_ok else EXIT_FAILED


def result_line(target: Target, outcome: Outcome) -> str:
    """`ok     <masked>  tags: <tags or ->`; a failure adds the reason and every place the
    target came from, so the entry to fix can be found."""
    tags = ",".join(target.tags) if target.tags else "-"
    status = "ok" if outcome.ok else "failed"
    line = f"{status:<7}{target.masked}  tags: {tags}"
    if outcome.ok:
        return line
    if outcome.reason:
        line += f"  ({outcome.reason})"
    if target.places:
        line += "  from " + ", ".join(target.places)
    return line
