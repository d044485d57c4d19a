"""evaluate() with plain values: every rule, its edges, and properties over any sequence."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.core_values import (
    EXPIRED,
    HTTP_503,
    INVALID,
    NETWORK,
    NOT_LOGGED_IN,
    PACE_RULES,
    RULES,
    T0,
    WEEK,
    next_period,
    reading,
)
from watcher.core.evaluate import evaluate
from watcher.core.model import Severity, State, TokenInfo

H = timedelta(hours=1)


def run(observations, rules=RULES, start=T0 + 2 * H, step=H, state=None):
    """Evaluate a sequence; returns (list of alert tuples per check, final state)."""
    state = state or State()
    per_check = []
    now = start
    for observation in observations:
        evaluation = evaluate(observation, state, rules, now)
        per_check.append(evaluation.alerts)
        state = evaluation.state
        now += step
    return per_check, state


def kinds(alerts):
    return [a.key for a in alerts]


# --- thresholds ------------------------------------------------------------------------------


def test_nothing_below_the_lowest_threshold():
    checks, state = run([reading(p) for p in (0, 10, 30, 49.99)])
    assert all(c == () for c in checks)
    assert state.pending == ()


def test_each_threshold_once_per_period():
    checks, _ = run([reading(p) for p in (52, 60, 81, 85, 97, 97, 100, 100)])
    assert [kinds(c) for c in checks] == [
        ["threshold:50"],
        [],
        ["threshold:80"],
        [],
        ["threshold:90"],
        [],
        ["threshold:100"],
        [],
    ]


def test_a_jump_gives_one_message_naming_the_highest_and_all_count_as_fired():
    checks, state = run([reading(95), reading(96)])
    assert kinds(checks[0]) == ["threshold:90"]
    assert checks[0][0].title == "Grok Build: 90% of weekly credits used"
    assert state.period.fired_thresholds == {50, 80, 90}
    assert checks[1] == ()


def test_severity_by_threshold():
    checks, _ = run([reading(p) for p in (50, 80, 100)])
    assert [c[0].severity for c in checks] == [Severity.INFO, Severity.WARNING, Severity.CRITICAL]


def test_rearm_only_after_falling_strictly_more_than_rearm_below():
    checks, _ = run([reading(p) for p in (81, 75, 81, 74.9, 81)])
    # 80 - 75 = 5 is not more than 5: still fired. 80 - 74.9 > 5: re-armed, fires again.
    assert [kinds(c) for c in checks] == [["threshold:80"], [], [], [], ["threshold:80"]]


def test_a_new_period_rearms_and_says_the_credits_were_reset():
    checks, _ = run([reading(81), next_period(3), next_period(55)])
    assert kinds(checks[0]) == ["threshold:80"]
    assert [a.kind for a in checks[1]] == ["reset"]
    assert checks[1][0].title == "Grok Build: weekly credits reset"
    assert kinds(checks[2]) == ["threshold:50"]


def test_a_new_period_with_a_threshold_reached_at_once_carries_both():
    checks, _ = run([reading(81), next_period(52)])
    assert sorted(a.kind for a in checks[1]) == ["reset", "threshold"]


def test_no_reset_message_when_nothing_fired_in_the_previous_period():
    checks, _ = run([reading(10), next_period(3)])
    assert checks[1] == ()


def test_period_times_that_drift_by_minutes_are_the_same_period():
    drifted = reading(81, start=T0 + timedelta(minutes=9), end=T0 + WEEK - timedelta(minutes=9))
    checks, _ = run([reading(81), drifted])
    assert checks[1] == ()


def test_ten_minutes_apart_is_a_new_period():
    moved = reading(81, start=T0, end=T0 + WEEK + timedelta(minutes=10))
    checks, _ = run([reading(81), moved])
    assert sorted(a.kind for a in checks[1]) == ["reset", "threshold"]


def test_unknown_period_end_only_a_fall_rearms():
    checks, _ = run([reading(p, start=None, end=None) for p in (81, 81, 81, 70, 81)])
    assert [kinds(c) for c in checks] == [["threshold:80"], [], [], [], ["threshold:80"]]


def test_limit_reached_without_pay_as_you_go_says_grok_build_stops_until_the_reset():
    (check,), _ = run([reading(100)])
    (alert,) = check
    assert alert.title == "Grok Build: weekly credits used up (100%)"
    assert "Grok Build stops until the credits reset, Fri 27 Nov 05:00 UTC" in alert.body


def test_limit_reached_with_a_cap_says_use_is_billed_up_to_it():
    (check,), _ = run([reading(100, cap=2500, cap_used=120)])
    assert "billed as pay-as-you-go, up to your cap of $25.00 ($1.20 used so far)" in check[0].body


def test_a_newer_threshold_supersedes_an_undelivered_older_one():
    _, state = run([reading(52), reading(81)])
    assert [p.alert.key for p in state.pending] == ["threshold:80"]


def test_thresholds_over_100_are_limits_too():
    rules = RULES._replace(thresholds=(50.0, 120.0))
    checks, _ = run([reading(121)], rules=rules)
    assert checks[0][0].severity == Severity.CRITICAL


# --- pace ------------------------------------------------------------------------------------


def test_pace_warns_once_when_the_credits_run_out_before_the_reset():
    # 30 % after one day of seven: about 210 % by the reset.
    checks, state = run([reading(30), reading(31)], rules=PACE_RULES, start=T0 + 24 * H)
    assert [a.kind for a in checks[0]] == ["pace"]
    assert "run out Mon 23 Nov 13:00 UTC (in 2 d 8 h), before they reset Fri 27 Nov 05:00 UTC" in (
        checks[0][0].body
    )
    assert checks[1] == ()
    assert state.period.pace_fired_at == T0 + 24 * H


def test_no_pace_below_five_percent_or_before_one_percent_of_the_period():
    checks, _ = run([reading(4.9)], rules=PACE_RULES, start=T0 + 24 * H)
    assert checks[0] == ()
    early = T0 + WEEK * 0.009
    checks, _ = run([reading(20)], rules=PACE_RULES, start=early)
    assert [a.kind for a in checks[0]] == []


def test_no_pace_at_or_after_100_percent():
    checks, _ = run([reading(100)], rules=PACE_RULES, start=T0 + 24 * H)
    assert [a.kind for a in checks[0]] == ["threshold"]


def test_pace_uses_the_recent_rate_when_samples_span_an_hour():
    # Slow start (10 % in 3 days), then 2 points an hour: recent pace runs out, average would not.
    # The average (12 % in 73 h) projects 27 % at the reset; the last hour's rate, 200 %.
    checks, _ = run([reading(10), reading(12)], rules=PACE_RULES, start=T0 + 72 * H)
    assert [[a.kind for a in c] for c in checks] == [[], ["pace"]]
    assert "(2.0 points per hour)" in checks[1][0].body


def test_pace_disabled():
    checks, _ = run([reading(30)], rules=RULES, start=T0 + 24 * H)
    assert checks[0] == ()


def test_pace_rearms_when_the_projection_falls_to_90_or_less():
    # Fires at 30 % after a day; usage then stays flat for days: the projection falls back.
    observations = [reading(30)] + [reading(30)] * 3 + [reading(85)]
    checks, _ = run(observations, rules=PACE_RULES, start=T0 + 24 * H, step=24 * H)
    assert [a.kind for a in checks[0]] == ["pace"]
    assert all("pace" not in [a.kind for a in c] for c in checks[1:4])
    assert [a.kind for a in checks[4]] == ["threshold", "pace"]


def test_pace_samples_are_bounded():
    _, state = run(
        [reading(10 + i * 0.01) for i in range(500)], rules=PACE_RULES, step=timedelta(minutes=5)
    )
    assert len(state.period.samples) <= 48


# --- login -----------------------------------------------------------------------------------


def test_a_login_problem_alerts_once_per_incident_with_the_exact_message():
    checks, state = run([EXPIRED, EXPIRED, INVALID, NOT_LOGGED_IN])
    assert [kinds(c) for c in checks] == [["login"], [], [], []]
    assert checks[0][0].body.startswith("Grok auth expired. Run `grok login` again.")
    assert checks[0][0].severity == Severity.CRITICAL
    assert state.login.kind == "not_logged_in"


def test_a_good_reading_ends_the_incident_and_a_new_one_alerts_again():
    checks, _ = run([EXPIRED, reading(10), EXPIRED])
    assert [kinds(c) for c in checks] == [["login"], [], ["login"]]


def test_an_ended_incidents_undelivered_alert_is_dropped():
    _, state = run([EXPIRED, reading(10)])
    assert state.pending == ()


def test_a_token_expiring_within_a_day_without_refresh_warns_once_per_token():
    expiry = T0 + 2 * H + 20 * H
    token = TokenInfo(expiry, renewable=False)
    checks, _ = run(
        [reading(10, token=token)] * 2 + [reading(10, token=TokenInfo(expiry + H, False))]
    )
    assert [kinds(c) for c in checks] == [
        [f"token_expiry:{expiry.isoformat()}"],
        [],
        [f"token_expiry:{(expiry + H).isoformat()}"],
    ]
    assert "has no refresh token" in checks[0][0].body


def test_a_renewable_or_distant_token_does_not_warn():
    checks, _ = run(
        [
            reading(10, token=TokenInfo(T0 + 3 * H, renewable=True)),
            reading(10, token=TokenInfo(T0 + 40 * H, renewable=False)),
        ]
    )
    assert checks == [(), ()]


# --- cannot watch ----------------------------------------------------------------------------


def test_a_single_failed_check_never_alerts():
    checks, state = run([NETWORK], rules=RULES._replace(stale_after=timedelta(0)))
    assert checks == [()]
    assert state.outage is not None


def test_an_outage_longer_than_stale_after_alerts_once():
    m = timedelta(minutes=5)
    checks, _ = run([NETWORK] * 20, step=m)  # 95 minutes of failures
    alerted = [i for i, c in enumerate(checks) if c]
    assert alerted == [13]  # first check more than 1 h after the first failure (65 min)
    (alert,) = checks[13]
    assert alert.body.startswith("Grok billing request failed. Check your connection.")
    assert "since Fri 20 Nov 07:00 UTC (1 h 5 min ago)" in alert.body


def test_back_to_normal_only_when_the_outage_alert_was_sent():
    m = timedelta(minutes=31)
    checks, state = run([NETWORK, HTTP_503, NETWORK, reading(10)], step=m)
    # The outage alert was decided but never delivered (no delivery recorded): no recovery.
    assert [a.kind for a in checks[2]] == ["outage"]
    assert checks[3] == ()
    assert state.outage is None and state.pending == ()


def test_back_to_normal_goes_to_the_targets_that_got_the_outage():
    m = timedelta(minutes=40)
    _, state = run([NETWORK, NETWORK, NETWORK], step=m)
    state = state._replace(outage=state.outage._replace(notified=("mail",)), pending=())
    evaluation = evaluate(reading(10), state, RULES, T0 + 10 * H)
    assert [a.kind for a in evaluation.alerts] == ["recovered"]
    assert evaluation.state.pending[-1].only_to == ("mail",)


def test_a_login_that_works_again_says_so_only_where_the_login_alert_went():
    _, state = run([EXPIRED, INVALID])
    # The login alert reached the mail target (record_deliveries marks the incident).
    from watcher.core.delivery import Message, Outcome, Route, record_deliveries

    plan = {"mail": Message("t", "b", Severity.CRITICAL, ("login",))}
    routes = (Route("mail"), Route("phone", Severity.WARNING), Route("chat"))
    outcomes = {"mail": Outcome(True)}
    state = record_deliveries(state, plan, outcomes, routes[:1])
    assert state.login is not None and state.login.notified == ("mail",)
    evaluation = evaluate(reading(10), state, RULES, T0 + 10 * H)
    assert [a.kind for a in evaluation.alerts] == ["login_works"]
    (note,) = evaluation.alerts
    assert (note.severity, note.title) == (Severity.INFO, "Grok Build: Grok login works again")
    assert evaluation.state.pending[-1].only_to == ("mail",)
    assert evaluation.state.login is None


def test_a_login_alert_that_reached_no_one_needs_no_works_again_note():
    checks, state = run([EXPIRED, EXPIRED, reading(10)])
    assert [kinds(c) for c in checks] == [["login"], [], []]
    assert state.login is None and state.pending == ()


def test_a_failed_reading_never_forgets_fired_thresholds():
    _, state = run([reading(81), NETWORK, EXPIRED, NETWORK])
    assert state.period.fired_thresholds == {50, 80}
    checks, _ = run([reading(82)], state=state, start=T0 + 10 * H)
    assert checks == [()]


def test_login_problems_are_not_outages():
    checks, state = run([EXPIRED] * 5, step=timedelta(hours=2))
    assert state.outage is None
    assert [kinds(c) for c in checks] == [["login"], [], [], [], []]


# --- plan cache ------------------------------------------------------------------------------


def test_the_plan_is_remembered_when_fetched():
    r = reading(10)
    fetched = r._replace(usage=r.usage._replace(plan="SuperGrok"), plan_fetched=True)
    _, state = run([fetched, reading(11)])
    assert state.plan == "SuperGrok"
    assert state.plan_checked_at == T0 + 2 * H


# --- properties ------------------------------------------------------------------------------

percents = st.floats(min_value=0, max_value=130, allow_nan=False)
observations = st.one_of(
    percents.map(reading),
    st.tuples(percents, st.integers(1, 3)).map(lambda t: next_period(t[0], t[1])),
    st.sampled_from([NETWORK, HTTP_503, EXPIRED, INVALID]),
)


@settings(max_examples=300)
@given(st.lists(observations, max_size=40))
def test_a_threshold_fires_at_most_once_per_period_unless_usage_fell_under_its_rearm_point(seq):
    state = State()
    now = T0 + 2 * H
    fired_in_period: dict[object, set[float]] = {}
    low_since_fire: dict[tuple[object, float], bool] = {}
    last_end = None
    epoch = 0  # counts period changes: a new period may fire everything again
    for observation in seq:
        evaluation = evaluate(observation, state, RULES, now)
        if hasattr(observation, "usage"):
            if observation.usage.period.end != last_end:
                epoch += 1
                last_end = observation.usage.period.end
            period_key = epoch
            percent = observation.usage.percent_used
            for t in RULES.thresholds:
                if t - percent > RULES.rearm_below:
                    low_since_fire[(period_key, t)] = True
            for alert in evaluation.alerts:
                if alert.kind == "threshold":
                    t = float(alert.key.split(":")[1])
                    assert percent >= t
                    seen = fired_in_period.setdefault(period_key, set())
                    if t in seen:
                        assert low_since_fire.get((period_key, t)), "fired twice without re-arm"
                    seen.add(t)
                    low_since_fire[(period_key, t)] = False
                    for lower in RULES.thresholds:
                        if lower <= t:
                            seen.add(lower)
                            low_since_fire[(period_key, lower)] = False
        state = evaluation.state
        now += H


@given(st.lists(observations, max_size=40))
def test_nothing_fires_below_the_lowest_threshold(seq):
    state = State()
    now = T0 + 2 * H
    for observation in seq:
        evaluation = evaluate(observation, state, RULES._replace(forecast=False), now)
        if hasattr(observation, "usage") and observation.usage.percent_used < 50:
            assert not [a for a in evaluation.alerts if a.kind == "threshold"]
        state = evaluation.state
        now += H


@given(st.lists(observations, max_size=60))
def test_pending_is_bounded_and_never_holds_two_alerts_with_one_key(seq):
    _, state = run(seq, rules=PACE_RULES)
    keys = [p.alert.key for p in state.pending]
    assert len(keys) <= 20
    assert len(keys) == len(set(keys))


def test_times_in_alerts_are_local():
    from datetime import timezone

    tokyo = timezone(timedelta(hours=9))
    (check,), _ = run([reading(100)], rules=RULES._replace(local_zone=tokyo))
    assert "Fri 27 Nov 14:00 UTC" in check[0].body  # RULES' own zone is UTC: 05:00 there
