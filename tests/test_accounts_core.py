"""Whose history is whose, and how each account's alerts are addressed: plain values."""

from __future__ import annotations

from datetime import timedelta

from tests.core_values import RULES, T0, reading
from watcher.core.accounts import UNCLAIMED_KEPT, claim, drop_unclaimed
from watcher.core.addressing import (
    Addressee,
    addressed,
    plan_for_accounts,
    reaches,
    record_for_accounts,
    unreached,
)
from watcher.core.delivery import Outcome, Route
from watcher.core.evaluate import evaluate
from watcher.core.model import AlertKind, State

NOW = T0 + timedelta(days=1)
FILE = "/home/me/.grok-work/auth.json"


def fired(percent: float, identity: str | None = "user-2") -> State:
    """A history that has read `percent` and fired what it reaches."""
    state = evaluate(reading(percent), State(), RULES, T0).state
    return state._replace(identity=identity, auth_file=FILE, seen_at=T0)


def test_the_same_login_keeps_its_history_and_is_stamped():
    before = fired(83)
    after = claim({"work": before}, "work", "user-2", FILE, ["work"], NOW)
    assert after.state == before._replace(seen_at=NOW)
    assert after.note is None and after.adopted_from is None


def test_another_login_behind_the_name_starts_afresh_with_one_note():
    before = fired(83)
    after = claim({"work": before}, "work", "user-3", FILE, ["work"], NOW, who="a@example.com")
    assert after.state.period is None  # nothing fired for user-2 carries over
    assert after.state.identity == "user-3"
    assert [p.alert.kind for p in after.state.pending] == [AlertKind.ACCOUNT]
    assert after.note is not None and "a@example.com" in after.note.body
    assert after.state.delivered == before.delivered  # the exporter's counter goes on
    # and the alerts it decides then are the new login's own
    decided = evaluate(reading(83), after.state, RULES, NOW)
    assert [a.key for a in decided.alerts] == ["threshold:80"]


def test_a_login_with_no_identity_never_resets_a_history():
    before = fired(83)
    assert claim({"work": before}, "work", None, FILE, ["work"], NOW).note is None
    unknown = fired(83, identity=None)
    after = claim({"work": unknown}, "work", "user-9", FILE, ["work"], NOW)
    assert after.note is None and after.state.identity == "user-9"


def test_a_renamed_account_adopts_the_history_of_the_same_login():
    histories = {"old": fired(83), "other": fired(50, identity="user-7")}
    after = claim(histories, "work", "user-2", "/elsewhere/auth.json", ["work", "x"], NOW)
    assert after.adopted_from == "old"
    assert list(after.histories) == ["other", "work"]
    assert after.state.period == histories["old"].period
    # a configured name's history is never taken, whatever its identity
    kept = claim({"x": fired(83)}, "work", "user-2", FILE, ["work", "x"], NOW)
    assert kept.adopted_from is None and "x" in kept.histories


def test_a_history_from_before_identities_is_adopted_by_the_same_file():
    legacy = fired(83, identity=None)._replace(auth_file=None)
    after = claim({"default": legacy}, "me", "user-1", FILE, ["me"], NOW, legacy_auth_file=FILE)
    assert after.adopted_from == "default"
    assert after.state.period == legacy.period and after.state.identity == "user-1"
    elsewhere = claim(
        {"default": legacy}, "me", "user-1", FILE, ["me"], NOW, legacy_auth_file="/x/auth.json"
    )
    assert elsewhere.adopted_from is None


def test_unclaimed_histories_are_dropped_after_35_days():
    histories = {
        "work": fired(83)._replace(seen_at=NOW - 2 * UNCLAIMED_KEPT),  # configured: kept
        "gone": fired(50)._replace(seen_at=NOW - UNCLAIMED_KEPT),
        "recent": fired(50)._replace(seen_at=NOW - UNCLAIMED_KEPT + timedelta(minutes=1)),
        "legacy": fired(50)._replace(seen_at=None),  # read at T0, a day ago
    }
    assert list(drop_unclaimed(histories, ["work"], NOW)) == ["work", "recent", "legacy"]


def test_named_alerts_keep_unnamed_ones_as_they_were():
    alert = evaluate(reading(83), State(), RULES, T0).alerts[0]
    assert addressed(alert, Addressee("default")) == alert
    named = addressed(alert, Addressee("work", ("work",)))
    assert named.title == "Grok Build (work): 80% of weekly credits used"
    assert named.body == "work: " + alert.body


ROUTES = (
    Route("mail", tags=frozenset({"work"})),
    Route("phone", tags=frozenset({"always"})),
    Route("chat"),
)


def test_tags_pick_the_targets_and_always_gets_everything():
    assert [r.target_id for r in ROUTES if reaches(r, ("work",))] == ["mail", "phone"]
    assert [r.target_id for r in ROUTES if reaches(r, None)] == ["mail", "phone", "chat"]
    assert [r.target_id for r in ROUTES if reaches(r, ("home",))] == ["phone"]
    assert unreached(("home",), ROUTES[:1]) and not unreached(None, ())


def test_one_message_per_target_with_every_accounts_alerts_recorded_back():
    work = evaluate(reading(83), State(), RULES, T0).state
    home = evaluate(reading(55), State(), RULES, T0).state
    accounts = [
        (Addressee("home", ("home",)), home),
        (Addressee("work", ("work",), tags=("work",)), work),
    ]
    plan = plan_for_accounts(accounts, ROUTES)
    assert plan["mail"].title == "Grok Build (work): 80% of weekly credits used"
    assert plan["mail"].alert_keys == ("work/threshold:80", "home/threshold:50")
    assert plan["chat"].alert_keys == ("home/threshold:50",)
    assert plan["phone"].title == "Grok Build (work): 80% of weekly credits used"
    assert set(plan["phone"].alert_keys) == {"work/threshold:80", "home/threshold:50"}
    outcomes = {"mail": Outcome(True), "phone": Outcome(False, "HTTP 500"), "chat": Outcome(True)}
    home_after, work_after = record_for_accounts(accounts, plan, outcomes, ROUTES)
    assert [(p.alert.key, p.delivered_to) for p in work_after.pending] == [
        ("threshold:80", ("mail",))  # the phone still owes it
    ]
    assert [(p.alert.key, p.delivered_to) for p in home_after.pending] == [
        ("threshold:50", ("chat", "mail"))
    ]
    assert work_after.pending[0].alert == work.pending[0].alert  # stored unaddressed
    assert (work_after.delivered.warning, home_after.delivered.info) == (1, 1)


def test_equally_important_alerts_are_titled_by_the_first_account():
    one = evaluate(reading(83), State(), RULES, T0).state
    plan = plan_for_accounts(
        [(Addressee("b", ("b",)), one), (Addressee("a", ("a",)), one)], ROUTES[2:]
    )
    assert plan["chat"].title.startswith("Grok Build (b):")
