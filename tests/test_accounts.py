"""Several Grok logins watched from one config, against the fake Grok server: two logins with
their own tokens, usage and periods; alerts to a real webhook sink."""

from __future__ import annotations

import fcntl
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ENTRY, Home, cli_entry, monthly_body, point_at, pool, state_file
from tests.fake_grok import FakeGrok, Grant, Reply
from watcher.state_file import load_state, save_state

CREDITS = "/billing?format=credits"
WORK_END = datetime.now(UTC) + timedelta(days=5)  # a period of its own


class Logins:
    """personal: ~/.grok (access-1, user-1); work: ~/.grok-work (access-2, user-2)."""

    def __init__(self, home: Home, grok: FakeGrok, sink: Any) -> None:
        self.home, self.grok, self.sink = home, grok, sink
        self.work_home = home.root / ".grok-work"
        self.write_work(cli_entry("access-2", refresh="refresh-2", user_id="user-2"))
        grok.accepted_tokens.add("access-2")
        self.serve("personal", 10)
        self.serve("work", 10)

    def write_work(self, entry: dict[str, Any]) -> None:
        self.work_home.mkdir(exist_ok=True)
        path = self.work_home / "auth.json"
        path.write_text(json.dumps({ENTRY: entry}))
        path.chmod(0o600)

    def serve(self, account: str, percent: float, status: int = 200, delay: float = 0) -> None:
        end = WORK_END if account == "work" else None
        reply = Reply(status, json=pool(percent, end), delay=delay)
        if account == "work":
            self.grok.token_routes["access-2"] = {CREDITS: reply}
        else:
            self.grok.routes[CREDITS] = reply

    def configure(self, accounts: str | None = None, urls: list[str] | None = None) -> None:
        accounts = ACCOUNTS if accounts is None else accounts
        self.home.write_config(
            point_at(self.grok, timeout=1.0)
            + "[alerts]\nforecast = false\n"
            + accounts
            + f"[notify]\nurls = {json.dumps(urls or [self.sink.url()])}\n"
        )

    def titles(self) -> list[str]:
        return [w.title for w in self.sink.received]

    def billing_requests(self, token: str) -> int:
        return sum(
            1
            for r in self.grok.requests_to("/v1" + CREDITS)
            if r.headers.get("Authorization") == f"Bearer {token}"
        )


ACCOUNTS = """\
[[accounts]]
name = "personal"
grok_home = "~/.grok"
[[accounts]]
name = "work"
grok_home = "~/.grok-work"
"""


@pytest.fixture
def logins(ready: Home, grok: FakeGrok, sink: Any) -> Logins:
    watched = Logins(ready, grok, sink)
    watched.configure()
    return watched


def test_each_logins_thresholds_fire_once_each_named(logins, run):
    assert run("--check").code == 0
    assert logins.titles() == []
    logins.serve("personal", 55)
    logins.serve("work", 83)
    assert run("--check").code == 0
    assert len(logins.sink.received) == 1  # both accounts' alerts: one message
    message = logins.sink.received[0]
    assert message.title == "Grok Build (work): 80% of weekly credits used"  # the more severe
    assert "work: You have used 83%" in message.body
    assert "Also:\n- Grok Build (personal): 50% of weekly credits used" in message.body
    for _ in range(3):
        assert run("--check").code == 0
    assert len(logins.sink.received) == 1  # once each
    logins.serve("personal", 81)
    assert run("--check").code == 0
    assert logins.titles()[1:] == ["Grok Build (personal): 80% of weekly credits used"]


def test_the_second_login_costs_one_request_on_the_same_connection(logins, run):
    assert run("--check").code == 0
    billing = logins.grok.requests_to("/v1" + CREDITS)
    assert [r.headers["Authorization"] for r in billing] == ["Bearer access-1", "Bearer access-2"]
    assert len({r.port for r in logins.grok.requests}) == 1  # /settings included
    assert run("--check").code == 0  # the plans are known now: one request per login
    assert len(logins.grok.requests) == len(billing) + 2 + 2


def test_one_logins_401_or_outage_leaves_the_others_alerts_unchanged(logins, run):
    logins.grok.accepted_tokens.discard("access-2")  # work: the API refuses its token
    logins.grok.grants.clear()
    logins.serve("personal", 52)
    result = run("--check")
    assert result.code == 1  # one account could not be read
    assert "work: Grok auth expired. Run `grok login` again." in result.out
    titles = logins.titles()
    assert sorted(titles) == ["Grok Build (work): run grok login"]  # critical first
    body = logins.sink.received[0].body
    assert "For this login: `GROK_HOME=~/.grok-work grok login`." in body
    assert "Also:\n- Grok Build (personal): 50% of weekly credits used" in body
    # An outage of work's reading changes nothing of personal's.
    logins.grok.accepted_tokens.add("access-2")
    logins.serve("work", 10, status=503)
    logins.serve("personal", 83)
    assert run("--check").code == 1
    assert logins.titles()[1:] == ["Grok Build (personal): 80% of weekly credits used"]
    histories, _ = load_state(state_file(logins.home), datetime.now(UTC))
    assert histories["personal"].period.fired_thresholds == {50.0, 80.0}
    assert histories["work"].outage is not None  # and its login incident goes on


def test_swapping_the_login_behind_a_name_starts_its_history_afresh(logins, run):
    logins.serve("work", 83)
    assert run("--check").code == 0
    assert logins.titles() == ["Grok Build (work): 80% of weekly credits used"]
    # Another login in ~/.grok-work, at the same usage: its thresholds are its own.
    logins.write_work(
        cli_entry("access-3", refresh="refresh-3", user_id="user-3", email="a@example.com")
    )
    logins.grok.accepted_tokens.add("access-3")
    logins.grok.token_routes["access-3"] = {CREDITS: Reply(json=pool(83, WORK_END))}
    assert run("--check").code == 0
    assert logins.titles()[1] == "Grok Build (work): 80% of weekly credits used"
    body = logins.sink.received[1].body
    assert "Also:\n- Grok Build (work): now watching another login" in body
    histories, _ = load_state(state_file(logins.home), datetime.now(UTC))
    assert histories["work"].identity == "user-3"
    assert histories["personal"].identity == "user-1"


def test_a_login_under_two_names_is_read_once_and_its_alerts_name_both(logins, run):
    (logins.work_home / "auth.json").write_text(logins.home.auth_path.read_text())
    logins.serve("personal", 83)
    result = run("--check", "-v")
    assert result.code == 0
    assert "accounts personal and work read the same Grok login" in result.err
    assert logins.billing_requests("access-1") == 1
    assert logins.titles() == ["Grok Build (personal, work): 80% of weekly credits used"]
    status = run("--status")
    assert "accounts personal and work read the same Grok login" in status.err
    assert logins.billing_requests("access-1") == 2  # --status read it once too
    quiet = run("--check")
    assert "same Grok login" not in quiet.err  # in --check only with -v


def test_each_account_reaches_only_the_targets_its_tags_name(logins, run):
    urls = [
        "work=" + logins.sink.url("/work"),
        "personal=" + logins.sink.url("/personal"),
        "always=" + logins.sink.url("/phone"),
    ]
    logins.configure(
        ACCOUNTS.replace(
            'grok_home = "~/.grok"\n', 'grok_home = "~/.grok"\ntargets = ["personal"]\n'
        )
        + 'targets = ["work"]\n',
        urls,
    )
    logins.serve("personal", 55)
    logins.serve("work", 83)
    assert run("--check").code == 0
    assert logins.sink.titles("/work") == ["Grok Build (work): 80% of weekly credits used"]
    assert logins.sink.titles("/personal") == ["Grok Build (personal): 50% of weekly credits used"]
    assert logins.sink.titles("/phone") == ["Grok Build (work): 80% of weekly credits used"]
    phone = next(w for w in logins.sink.received if w.path.startswith("/phone"))
    assert "Also:\n- Grok Build (personal): 50%" in phone.body


def test_an_account_whose_tags_no_target_carries_is_a_config_error(logins, run):
    logins.configure(ACCOUNTS + 'targets = ["wrok"]\n', ["work=" + logins.sink.url()])
    assert run("--test-notify").code == 2
    result = run("--install-service")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        '[[accounts]] "work" targets: no target carries the tag wrok (nor always): its alerts '
        "would go nowhere"
    ]


def test_a_state_file_of_the_previous_version_keeps_its_history(logins, run, tmp_path):
    """Written before several logins could be watched: [accounts.default], no identity."""
    logins.configure(accounts="")
    logins.serve("personal", 83)
    assert run("--check").code == 0
    assert logins.titles() == ["Grok Build: 80% of weekly credits used"]
    path = state_file(logins.home)
    histories, _ = load_state(path, datetime.now(UTC))
    old = histories["default"]._replace(identity=None, auth_file=None, seen_at=None)
    save_state(path, {"default": old})
    assert "identity" not in path.read_text()
    # Now one [[accounts]] reading the same file: nothing fires again.
    logins.configure(accounts='[[accounts]]\nname = "me"\ngrok_home = "~/.grok"\n')
    assert run("--check").code == 0
    assert len(logins.sink.received) == 1
    histories, _ = load_state(path, datetime.now(UTC))
    assert list(histories) == ["me"]
    assert histories["me"].period.fired_thresholds == {50.0, 80.0}
    assert histories["me"].identity == "user-1"
    # Renamed: the history follows the login, by its identity.
    logins.configure(accounts='[[accounts]]\nname = "mine"\nauth_file = "~/.grok/auth.json"\n')
    assert run("--check").code == 0
    assert len(logins.sink.received) == 1
    histories, _ = load_state(path, datetime.now(UTC))
    assert list(histories) == ["mine"]


def test_a_pending_alert_of_the_previous_version_is_still_sent(logins, run):
    down = "json://127.0.0.1:9/hook"  # nothing listens: the alert stays pending
    logins.configure(accounts="", urls=[down])
    logins.serve("personal", 83)
    assert run("--check").code == 1
    path = state_file(logins.home)
    histories, _ = load_state(path, datetime.now(UTC))
    old = histories["default"]._replace(identity=None, auth_file=None, seen_at=None)
    assert [p.alert.key for p in old.pending] == ["threshold:80"]
    save_state(path, {"default": old})
    logins.configure(accounts='[[accounts]]\nname = "me"\ngrok_home = "~/.grok"\n')
    assert run("--check").code == 0
    assert logins.titles() == ["Grok Build: 80% of weekly credits used"]
    assert load_state(path, datetime.now(UTC))[0]["me"].pending == ()


def test_each_logins_refresh_holds_only_its_own_lock(logins, run):
    soon = datetime.now(UTC) + timedelta(minutes=1)  # within the refresh margin
    logins.home.write_auth({ENTRY: cli_entry("old-1", refresh="refresh-1", expires_at=soon)})
    logins.write_work(cli_entry("old-2", refresh="refresh-2", user_id="user-2", expires_at=soon))
    logins.grok.grants["refresh-1"] = Grant("access-1", "refresh-1b", expires_in=3600)
    logins.grok.grants["refresh-2"] = Grant("access-2", "refresh-2b", expires_in=3600)
    locks = {
        "personal": logins.home.auth_path.with_name("auth.json.lock"),
        "work": logins.work_home / "auth.json.lock",
    }
    held: list[dict[str, bool]] = []

    def is_held(path: Path) -> bool:
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    logins.grok.on_token_request = lambda: held.append(
        {name: is_held(path) for name, path in locks.items()}
    )
    assert run("--check").code == 0
    assert held == [{"personal": True, "work": False}, {"personal": False, "work": True}]
    assert logins.home.read_auth()[ENTRY]["refresh_token"] == "refresh-1b"
    work = json.loads((logins.work_home / "auth.json").read_text())
    assert work[ENTRY]["refresh_token"] == "refresh-2b"


def test_a_copied_grok_home_is_never_refreshed_twice(logins, run):
    """Same refresh token in both files, no identity to tell them by: the first refreshes,
    the second is refused -- refreshing it would spend the first one's token."""
    soon = datetime.now(UTC) + timedelta(minutes=-1)  # expired: both need a refresh
    entry = cli_entry("old-1", refresh="refresh-1", expires_at=soon, user_id=None)
    logins.home.write_auth({ENTRY: entry})
    logins.write_work(entry)
    logins.grok.grants["refresh-1"] = Grant("access-1", "refresh-1b", expires_in=3600)
    result = run("--check")
    assert len(logins.grok.token_posts()) == 1
    assert logins.home.read_auth()[ENTRY]["refresh_token"] == "refresh-1b"
    # Read once, through personal's file: work's copy was never sent.
    assert result.code == 0
    assert logins.titles() == []


def test_the_copy_of_a_login_that_failed_is_refused_and_says_why(logins, run):
    """personal's refresh is refused, so the login is tried through work's copy -- whose
    refresh token personal's file still holds: it is never sent."""
    expired = datetime.now(UTC) - timedelta(minutes=1)
    entry = cli_entry("old-1", refresh="refresh-1", expires_at=expired, user_id=None)
    logins.home.write_auth({ENTRY: entry})
    logins.write_work(entry)  # no grant: the token endpoint refuses refresh-1
    result = run("--check")
    assert result.code == 1
    assert len(logins.grok.token_posts()) == 1  # personal's; never work's copy
    assert (
        f"Grok login {logins.work_home / 'auth.json'} is a copy of personal's (the same "
        "refresh token); it is not refreshed, since that would log personal out. Run "
        "`grok login` for this home."
    ) in result.err
    assert logins.titles() == ["Grok Build (personal, work): run grok login"]


def test_a_hung_server_for_one_login_costs_only_that_logins_deadline(logins, run):
    logins.serve("work", 83, delay=10)  # never answers within its deadline (2 s)
    logins.serve("personal", 55)
    started = time.monotonic()
    result = run("--check")
    took = time.monotonic() - started
    assert result.code == 1
    assert took < 2.0 + 1.5, took  # work's deadline, and little else
    assert logins.titles() == ["Grok Build (personal): 50% of weekly credits used"]


def test_account_limits_check_and_status(logins, run):
    logins.serve("personal", 55)
    logins.serve("work", 83)
    result = run("--check", "--account", "WORK")
    assert result.code == 0
    assert logins.titles() == ["Grok Build (work): 80% of weekly credits used"]
    assert logins.billing_requests("access-1") == 0
    status = run("--status", "--account", "personal", "--plain")
    assert status.code == 0
    assert status.out.splitlines()[0] == "Account       personal"
    assert "Credits used  55%" in status.out
    unknown = run("--status", "--account", "home")
    assert unknown.code == 2
    assert unknown.err.strip() == "--account home: no such account (the config has: personal, work)"
    assert run("--account", "work").code == 2  # the service takes no --account


def test_status_shows_every_account_and_json_lists_them(logins, run):
    logins.serve("personal", 55)
    logins.serve("work", 83)
    plain = run("--status", "--plain")
    assert plain.code == 0
    blocks = plain.out.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["Account       personal", "Account       work"]
    assert "Credits used  83%" in blocks[1]
    document = json.loads(run("--status", "--json").out)
    assert [(a["name"], a["percent_used"]) for a in document["accounts"]] == [
        ("personal", 55),
        ("work", 83),
    ]
    assert "percent_used" not in document  # named logins: only under accounts
    (logins.work_home / "auth.json").unlink()
    failed = run("--status", "--json")
    assert failed.code == 1
    assert failed.err == "work: Grok not logged in. Run `grok login`.\n"
    work = json.loads(failed.out)["accounts"][1]
    assert work["error"]["message"] == "Grok not logged in. Run `grok login`."


def test_one_unnamed_login_keeps_its_documents_and_adds_accounts(logins, run):
    logins.configure(accounts="")
    assert run("--check").code == 0  # the plan is in the state now: --status still asks it
    document = json.loads(run("--status", "--json").out)
    assert document["percent_used"] == 10
    assert document["plan"] == "SuperGrok Heavy"
    assert [(a["name"], a["percent_used"]) for a in document["accounts"]] == [("default", 10)]
    check = json.loads(run("--check", "--json").out)
    assert check["reading"]["percent_used"] == 10
    assert [a["name"] for a in check["accounts"]] == ["default"]


def test_a_copy_checked_alone_still_knows_the_other_file(logins, run):
    """`--account work` looks at personal's file too: work is a copy, so the login is read
    (and refreshed) through personal's file, once, never through the copy."""
    expired = datetime.now(UTC) - timedelta(minutes=1)
    entry = cli_entry("old-1", refresh="refresh-1", expires_at=expired, user_id=None)
    logins.home.write_auth({ENTRY: entry})
    logins.write_work(entry)
    copy = (logins.work_home / "auth.json").read_bytes()
    logins.grok.grants["refresh-1"] = Grant("access-1", "refresh-1b", expires_in=3600)
    assert run("--check", "--account", "work").code == 0
    assert [p.form["refresh_token"] for p in logins.grok.token_posts()] == ["refresh-1"]
    assert logins.home.read_auth()[ENTRY]["refresh_token"] == "refresh-1b"
    assert (logins.work_home / "auth.json").read_bytes() == copy


def test_test_notify_for_one_account_reaches_its_targets_named(logins, run):
    urls = [
        "work=" + logins.sink.url("/work"),
        "personal=" + logins.sink.url("/personal"),
        logins.sink.url("/everyone"),
    ]
    logins.configure(ACCOUNTS + 'targets = ["work"]\n', urls)
    result = run("--test-notify", "--account", "work")
    assert result.code == 0
    assert sorted(w.path for w in logins.sink.received) == ["/work"]
    assert logins.titles() == ["Grok Build (work): test notification"]
    assert run("--test-notify").code == 0  # without --account: every target, as before
    assert logins.titles()[1:] == ["Grok Build: test notification"] * 3


def test_a_copys_spent_refresh_token_is_never_sent_by_a_later_check(logins, run):
    """Check 1 refreshes the login through personal's file (refresh-1 is spent there, the
    copy in ~/.grok-work still holds it). Every later check -- a new process, nothing in
    memory -- must never send refresh-1 again: the server may end the whole login."""
    expired = datetime.now(UTC) - timedelta(minutes=1)
    entry = cli_entry("old-1", refresh="refresh-1", expires_at=expired, user_id=None)
    logins.home.write_auth({ENTRY: entry})
    logins.write_work(entry)
    logins.grok.grants["refresh-1"] = Grant("access-1", "refresh-1b", expires_in=3600)
    assert run("--check").code == 0
    # The files no longer share a token: each is read on its own now.
    later = run("--check")
    assert [p.form["refresh_token"] for p in logins.grok.token_posts()] == ["refresh-1"]
    assert later.code == 1
    assert "is a copy of personal's" in later.err
    assert "Run `grok login` for this home." in later.err
    assert run("--check", "--account", "work").code == 1
    assert [p.form["refresh_token"] for p in logins.grok.token_posts()] == ["refresh-1"]


def test_a_copy_of_a_login_known_by_identity_is_never_sent_its_spent_token(logins, run):
    expired = datetime.now(UTC) - timedelta(minutes=1)
    entry = cli_entry("old-1", refresh="refresh-1", expires_at=expired)  # user-1 in both
    logins.home.write_auth({ENTRY: entry})
    logins.write_work(entry)
    logins.grok.grants["refresh-1"] = Grant("access-1", "refresh-1b", expires_in=3600)
    assert run("--check").code == 0
    # personal's new login is refused from now on: the copy is tried -- and must not send
    # the refresh token personal's first check spent.
    logins.grok.accepted_tokens.discard("access-1")
    run("--check")
    assert [p.form["refresh_token"] for p in logins.grok.token_posts()] == [
        "refresh-1",
        "refresh-1b",
    ]


WORK_FIRST = """\
[[accounts]]
name = "work"
grok_home = "~/.grok-work"
[[accounts]]
name = "personal"
grok_home = "~/.grok"
"""


def test_a_name_whose_file_comes_to_hold_another_names_login_repeats_nothing(logins, run):
    logins.configure(WORK_FIRST)
    logins.serve("personal", 83)
    assert run("--check").code == 0
    assert logins.titles() == ["Grok Build (personal): 80% of weekly credits used"]
    # `grok login` in ~/.grok-work with the personal login: work comes first in the config,
    # but personal's history is this login's.
    (logins.work_home / "auth.json").write_text(logins.home.auth_path.read_text())
    for _ in range(2):
        assert run("--check").code == 0
    assert len(logins.sink.received) == 1
    histories, _ = load_state(state_file(logins.home), datetime.now(UTC))
    assert histories["personal"].period.fired_thresholds == {50.0, 80.0}
    assert histories["work"].identity == "user-2"  # work's own history waits, untouched


def test_one_logins_cookies_never_go_with_anothers_requests(logins, run):
    logins.grok.routes[CREDITS] = Reply(
        json=pool(10), headers={"Set-Cookie": "sid=personal-session; Path=/"}
    )
    assert run("--check").code == 0
    work = [
        r
        for r in logins.grok.requests_to("/v1" + CREDITS)
        if r.headers.get("Authorization") == "Bearer access-2"
    ]
    assert [r.headers.get("Cookie") for r in work] == [None]


def test_another_login_behind_a_name_is_read_as_a_new_login(logins, run):
    """The new login's account has no pool: it is read as any new login is (the monthly
    meter answers), not with the former login's "the pool has answered" -- which would fail
    every check for a day."""
    assert run("--check").code == 0
    logins.write_work(cli_entry("access-3", refresh="refresh-3", user_id="user-3"))
    logins.grok.accepted_tokens.add("access-3")
    now = datetime.now(UTC)
    logins.grok.token_routes["access-3"] = {
        CREDITS: Reply(404, json={}),
        "/billing": Reply(json=monthly_body(now - timedelta(days=10), now + timedelta(days=20))),
    }
    assert run("--check").code == 0
    assert logins.titles() == ["Grok Build (work): now watching another login"]
    histories, _ = load_state(state_file(logins.home), datetime.now(UTC))
    assert (histories["work"].identity, histories["work"].meter) == ("user-3", "monthly")


def test_a_history_from_before_is_not_given_to_one_of_two_new_accounts(logins, run):
    """Which file the previous version read is not in its state: with two accounts, neither
    takes the history over by guess (each alerts its own thresholds once)."""
    logins.configure(accounts="")
    logins.serve("personal", 83)
    assert run("--check").code == 0
    path = state_file(logins.home)
    histories, _ = load_state(path, datetime.now(UTC))
    save_state(path, {"default": histories["default"]._replace(identity=None, auth_file=None)})
    logins.serve("work", 83)
    logins.configure()
    result = run("--check", "-v")
    assert "took over" not in result.err
    assert logins.titles()[1:] == ["Grok Build (personal): 80% of weekly credits used"]
    assert "Also:\n- Grok Build (work): 80% of weekly credits used" in (
        logins.sink.received[1].body
    )


def test_a_renamed_account_that_cannot_read_keeps_its_incident(logins, run):
    logins.configure(accounts="")
    logins.grok.accepted_tokens.discard("access-1")
    assert run("--check").code == 1
    assert logins.titles() == ["Grok Build: run grok login"]
    # Renamed while still logged out: the same login's incident, not a second alert.
    logins.configure(accounts='[[accounts]]\nname = "me"\ngrok_home = "~/.grok"\n')
    histories, _ = load_state(state_file(logins.home), datetime.now(UTC))
    assert histories["default"].identity == "user-1"  # stamped from the file when it failed
    assert run("--check").code == 1
    assert logins.titles() == ["Grok Build: run grok login"]
    assert list(load_state(state_file(logins.home), datetime.now(UTC))[0]) == ["me"]


def test_a_check_of_one_account_keeps_every_accounts_metrics(logins, run):
    textfile = logins.home.root / "metrics.prom"
    logins.home.write_config(
        logins.home.config_path.read_text() + f'[export]\ntextfile = "{textfile}"\n'
    )
    logins.serve("personal", 55)
    logins.serve("work", 83)
    assert run("--check").code == 0
    logins.grok.accepted_tokens.discard("access-2")
    logins.grok.grants.clear()
    assert run("--check", "--account", "personal").code == 0
    text = textfile.read_text()
    assert 'grok_usage_credits_used_ratio{account="work",meter="pool"} 0.83' in text
    assert 'grok_usage_credits_used_ratio{account="personal",meter="pool"} 0.55' in text
    assert 'grok_usage_up{account="work"} 1' in text  # its last check read it
