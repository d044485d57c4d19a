"""Quiet hours, as plain values: nights of 5-minute checks through the core and the delivery
planning, as a check runs them -- evaluate, hold, plan one message per target, record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.core_values import NETWORK, RULES, T0, WEEK, reading
from watcher.core.addressing import Addressee, plan_for_accounts, record_for_accounts
from watcher.core.delivery import Message, Outcome, Route
from watcher.core.evaluate import evaluate
from watcher.core.holding import Hold, mark_held
from watcher.core.model import Observation, Severity, State
from watcher.core.quiet import QuietWindow, parse_times, parse_weekdays, quiet_at, quiet_until

BERLIN = ZoneInfo("Europe/Berlin")
WEEKNIGHTS = QuietWindow(parse_weekdays("monday:friday"), parse_times("22:00-07:30"), BERLIN)
ROUTES = (Route("phone"),)
STEP = timedelta(minutes=5)
ME = Addressee("default")


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def night(
    usage_at: Callable[[datetime], Observation],
    start: str = "2026-11-23 21:00",
    end: str = "2026-11-24 09:00",
    passes: Severity | None = Severity.CRITICAL,
    rules=RULES,  # type: ignore[no-untyped-def]
) -> list[tuple[datetime, Message]]:
    """Every message the phone gets over the night, with when."""
    state, now, stop = State(), berlin(start), berlin(end)
    sent: list[tuple[datetime, Message]] = []
    while now <= stop:
        observation = usage_at(now)
        state = evaluate(observation, state, rules, now).state
        hold = None
        if quiet_at(now, [WEEKNIGHTS]):
            hold = Hold(passes, quiet_until(now, [WEEKNIGHTS]))
        state = mark_held(state, hold, now)
        unread = () if hasattr(observation, "usage") else ("default",)
        plan = plan_for_accounts(
            [(ME, state)],
            ROUTES,
            {ME.account: hold},
            unread,
            lambda since: f"Held since {since:%H:%M}.",
        )
        outcomes = {target: Outcome(True) for target in plan}
        (state,) = record_for_accounts([(ME, state)], plan, outcomes, ROUTES)
        sent += [(now, message) for message in plan.values()]
        now += STEP
    return sent


def ramp(*steps: tuple[str, float]) -> Callable[[datetime], Observation]:
    """Usage by the wall time it is reached: ("23:00", 52) holds from Monday 23:00 on."""
    moments = [(berlin(when), percent) for when, percent in steps]

    def usage(now: datetime) -> Observation:
        percent = 45.0
        for moment, value in moments:
            if now >= moment:
                percent = value
        return reading(percent)

    return usage


def test_50_at_23_and_80_at_1_come_as_one_digest_at_7_30_with_the_usage_then():
    sent = night(ramp(("2026-11-23 23:00", 52), ("2026-11-24 01:00", 81), ("2026-11-24 06:00", 83)))
    assert [when for when, _ in sent] == [berlin("2026-11-24 07:30")]
    ((_, digest),) = sent
    assert digest.title == "Grok Build: 80% of weekly credits used"
    assert digest.body.startswith("You have used 83% of your Grok Build weekly credits;")
    assert "50%" not in digest.body  # the higher threshold says it all
    assert digest.body.endswith("\n\nHeld since 01:00.")


def test_a_critical_alert_passes_at_once_and_the_digest_does_not_repeat_it():
    sent = night(
        ramp(("2026-11-23 23:00", 52), ("2026-11-24 02:00", 100.4), ("2026-11-24 06:00", 100.9))
    )
    assert [(when, m.title) for when, m in sent] == [
        (berlin("2026-11-24 02:00"), "Grok Build: weekly credits used up (100%)"),
    ]


def test_with_none_let_through_the_critical_one_waits_too():
    sent = night(ramp(("2026-11-24 02:00", 100.4)), passes=None)
    assert [(when, m.title) for when, m in sent] == [
        (berlin("2026-11-24 07:30"), "Grok Build: weekly credits used up (100%)"),
    ]


def test_what_a_reset_undid_is_not_sent_as_if_it_were_true():
    old_end = berlin("2026-11-24 04:00")

    def usage(now: datetime) -> Observation:
        if now < berlin("2026-11-24 01:00"):
            return reading(45, start=old_end - WEEK, end=old_end)
        if now < old_end:
            return reading(82, start=old_end - WEEK, end=old_end)
        return reading(3, start=old_end, end=old_end + WEEK)

    sent = night(usage)
    assert [(when, m.title) for when, m in sent] == [
        (berlin("2026-11-24 07:30"), "Grok Build: weekly credits reset"),
    ]
    assert "3% used now" in sent[0][1].body
    assert "80%" not in sent[0][1].body


def test_an_outage_that_came_and_went_is_one_line_a_short_one_is_none():
    def usage(now: datetime) -> Observation:
        if berlin("2026-11-24 01:00") <= now < berlin("2026-11-24 02:30"):
            return NETWORK  # longer than stale_after (1 h): its alert was due, and held
        if berlin("2026-11-24 04:00") <= now < berlin("2026-11-24 04:40"):
            return NETWORK  # shorter: not news
        return reading(45)

    sent = night(usage)
    assert [(when, m.title) for when, m in sent] == [
        (berlin("2026-11-24 07:30"), "Grok Build: usage could not be read for 1 h 30 min"),
    ]
    body = sent[0][1].body
    assert body.startswith(  # RULES speak UTC: 01:00 to 02:30 in Berlin
        "Usage could not be read from Tue 24 Nov 00:00 UTC until Tue 24 Nov 01:30 UTC: "
        "Grok billing request failed. Check your connection."
    )
    assert "03:" not in body  # the 40 minutes at 04:00 Berlin are not news


def test_after_the_window_a_failed_check_keeps_the_figures_alerts_until_a_good_reading():
    def usage(now: datetime) -> Observation:
        if berlin("2026-11-24 07:25") <= now < berlin("2026-11-24 07:45"):
            return NETWORK
        return reading(81 if now >= berlin("2026-11-24 01:00") else 45)

    sent = night(usage)
    assert [(when, m.title) for when, m in sent] == [
        (berlin("2026-11-24 07:45"), "Grok Build: 80% of weekly credits used"),
    ]
    assert "You have used 81%" in sent[0][1].body


def test_the_weekend_window_held_from_friday_night_comes_out_on_monday_morning():
    weekend = QuietWindow(parse_weekdays("saturday:sunday"), (), BERLIN)
    windows = [WEEKNIGHTS, weekend]
    friday_night = berlin("2026-11-27 23:00")
    assert quiet_until(friday_night, windows) == berlin("2026-11-30 07:30")


def test_nothing_held_is_sent_twice_over_a_week_of_nights():
    def usage(now: datetime) -> Observation:
        hours = (now - berlin("2026-11-23 21:00")) / timedelta(hours=1)
        return reading(min(99.0, 20 + hours * 0.5), start=T0, end=T0 + 2 * WEEK)

    sent = night(usage, end="2026-11-28 09:00")
    titles = [m.title for _, m in sent]
    assert len(titles) == len(set(titles))
    assert all(not quiet_at(when, [WEEKNIGHTS]) for when, _ in sent)


# --- a snooze ---------------------------------------------------------------------------------


def test_a_snooze_wins_over_quiet_hours_while_it_lasts_then_the_quiet_hours_hold():
    from watcher.core.holding import hold_for
    from watcher.core.model import Snooze

    now = berlin("2026-11-24 01:00")
    quiet = Hold(Severity.CRITICAL, berlin("2026-11-24 07:30"))
    snoozed = State(snooze=Snooze(berlin("2026-11-24 03:00"), include_critical=True))
    assert hold_for(snoozed, quiet, Severity.CRITICAL, now) == Hold(
        None, berlin("2026-11-24 03:00"), "snooze"
    )
    later = berlin("2026-11-24 03:00")  # the snooze is over, the window is not
    assert hold_for(snoozed, quiet, Severity.CRITICAL, later) == quiet
    plain = State(snooze=Snooze(berlin("2026-11-24 03:00")))
    assert hold_for(plain, None, Severity.WARNING, now).passes == Severity.WARNING
    assert hold_for(State(), None, Severity.CRITICAL, now) is None


def test_a_snooze_until_the_reset_ends_with_the_reset_and_its_digest_says_so():
    from watcher.core.holding import hold_for
    from watcher.core.model import Snooze

    end = berlin("2026-11-24 04:00")
    state = evaluate(
        reading(45, start=end - WEEK, end=end), State(), RULES, berlin("2026-11-23 20:00")
    ).state
    state = state._replace(snooze=Snooze(end))
    sent = []
    now = berlin("2026-11-23 20:05")
    while now <= berlin("2026-11-24 06:00"):
        before = now < end
        observation = reading(
            83 if before else 4,
            start=end - WEEK if before else end,
            end=end if before else end + WEEK,
        )
        state = evaluate(observation, state, RULES, now).state
        hold = hold_for(state, None, Severity.CRITICAL, now)
        state = mark_held(state, hold, now)
        plan = plan_for_accounts([(ME, state)], ROUTES, {ME.account: hold})
        (state,) = record_for_accounts(
            [(ME, state)], plan, {t: Outcome(True) for t in plan}, ROUTES
        )
        sent += [(now, m.title) for m in plan.values()]
        now += STEP
    assert sent == [(end, "Grok Build: weekly credits reset")]  # not "80% used": undone


# --- what the review found ----------------------------------------------------------------------


def hold_run(usage_at, hours: float, hold: Hold, start: str = "2026-11-23 08:00", rules=RULES):  # type: ignore[no-untyped-def]
    """Checks every 5 minutes for `hours` under a hold that lasts throughout; the state
    after, and what went out."""
    state, now = State(), berlin(start)
    sent: list[tuple[datetime, str]] = []
    for _ in range(int(hours * 12)):
        observation = usage_at(now)
        state = evaluate(observation, state, rules, now).state
        state = mark_held(state, hold, now)
        plan = plan_for_accounts([(ME, state)], ROUTES, {ME.account: hold})
        (state,) = record_for_accounts(
            [(ME, state)], plan, {t: Outcome(True) for t in plan}, ROUTES
        )
        sent += [(now, m.title) for m in plan.values()]
        now += STEP
    return state, sent


def test_a_long_hold_never_drops_a_held_alert_for_the_pending_bound():
    start = berlin("2026-11-23 08:00")

    def usage(now: datetime) -> Observation:
        minutes = int((now - start) / timedelta(minutes=1)) % 150
        return NETWORK if minutes < 90 else reading(55)  # 90 minutes down in every 150

    state, _ = hold_run(usage, 84, Hold(Severity.WARNING))
    keys = [p.alert.key for p in state.pending]
    assert "threshold:50" in keys
    assert sum(k.startswith("recovered") for k in keys) <= 1
    assert len(keys) <= 20


def test_a_works_again_note_is_dropped_when_the_login_fails_again():
    from tests.core_values import EXPIRED

    def usage(now: datetime) -> Observation:
        failing = berlin("2026-11-24 00:00") <= now < berlin("2026-11-24 01:00")
        failing |= now >= berlin("2026-11-24 06:00")
        return EXPIRED if failing else reading(45)

    sent = night(usage)
    titles = [title for _, title in [(w, m.title) for w, m in sent]]
    assert titles == ["Grok Build: run grok login", "Grok Build: run grok login"]
    assert all("works again" not in m.body for _, m in sent)


def test_a_readable_again_note_is_dropped_when_usage_cannot_be_read_again():
    def usage(now: datetime) -> Observation:
        down = berlin("2026-11-23 20:00") <= now < berlin("2026-11-23 23:00")
        down |= now >= berlin("2026-11-24 04:00")
        return NETWORK if down else reading(45)

    sent = night(usage, passes=Severity.WARNING)
    assert all("readable again" not in m.body + m.title for _, m in sent), sent
