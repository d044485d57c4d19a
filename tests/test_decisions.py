"""`-v`'s account of a check: one line per rule, restating what the state records."""

from __future__ import annotations

from datetime import timedelta

from tests.core_values import EXPIRED, NETWORK, PACE_RULES, RULES, T0, reading
from watcher.core.decisions import decisions
from watcher.core.evaluate import evaluate
from watcher.core.model import State, TokenInfo

HOUR = timedelta(hours=1)


def run(observations, rules=RULES, step=HOUR):
    """Evaluate each observation an hour apart; the last check's state and time."""
    state, now = State(), T0
    for i, observation in enumerate(observations):
        now = T0 + (i + 1) * step
        state = evaluate(observation, state, rules, now).state
    return state, now


def test_each_threshold_says_fired_now_already_fired_or_not_reached():
    state, now = run([reading(55), reading(83)])
    lines = decisions(reading(83), state, RULES, now)
    assert lines[:4] == [
        "threshold 50%: already fired Fri 20 Nov 06:00 UTC; re-arms below 45%",
        "threshold 80%: fired now (83% used)",
        "threshold 90%: not reached (83% used)",
        "threshold 100%: not reached (83% used)",
    ]


def test_the_pace_line_says_off_too_early_on_track_or_alerted():
    state, now = run([reading(10)])
    assert decisions(reading(10), state, RULES, now)[4] == (
        "pace: not forecast ([alerts] forecast = false)"
    )
    state, now = run([reading(10)], PACE_RULES)
    assert decisions(reading(10), state, PACE_RULES, now)[4] == "pace: too early to tell"
    slow = [reading(10 + i) for i in range(4)]
    state, now = run(slow, PACE_RULES, step=timedelta(hours=6))
    line = decisions(slow[-1], state, PACE_RULES, now)[4]
    assert line.startswith("pace: on track (would reach ") and line.endswith("% by the reset)")
    fast = [reading(10 + 12 * i) for i in range(4)]
    state, now = run(fast, PACE_RULES, step=timedelta(hours=6))
    assert state.period.pace_fired_at is not None
    line = decisions(fast[-1], state, PACE_RULES, now)[-2]
    assert line.startswith("pace: ")
    assert "fired now" in line or "already alerted" in line


def test_the_login_line_says_whether_it_renews_itself():
    state, now = run([reading(10, token=TokenInfo(T0 + 5 * HOUR, True))])
    assert decisions(reading(10, token=TokenInfo(T0 + 5 * HOUR, True)), state, RULES, now)[-1] == (
        "login: refreshes itself (access token valid until Fri 20 Nov 10:00 UTC)"
    )
    token = TokenInfo(T0 + 3 * HOUR, False)
    state, now = run([reading(10, token=token)])
    assert decisions(reading(10, token=token), state, RULES, now)[-1] == (
        "login: cannot be renewed, expires Fri 20 Nov 08:00 UTC; warned"
    )


def test_a_failed_reading_says_where_the_incident_stands():
    state, now = run([reading(10), NETWORK])
    assert decisions(NETWORK, state, RULES, now) == [
        "outage: since now; an alert if it lasts beyond Fri 20 Nov 08:00 UTC"
    ]
    state, now = run([reading(10), NETWORK, NETWORK, NETWORK])
    assert decisions(NETWORK, state, RULES, now) == [
        "outage: since Fri 20 Nov 07:00 UTC; alerted now"
    ]
    state, now = run([EXPIRED])
    assert decisions(EXPIRED, state, RULES, now) == [
        f"login: {EXPIRED.message} Since now, alerted then, once per incident"
    ]


def test_a_login_valid_until_the_year_9999_is_worded_not_a_crash():
    from zoneinfo import ZoneInfo

    far = T0.replace(year=9999, month=12, day=31, hour=23)
    rules = RULES._replace(local_zone=ZoneInfo("Europe/Berlin"))
    state, now = run([reading(10, token=TokenInfo(far, True))], rules)
    line = decisions(reading(10, token=TokenInfo(far, True)), state, rules, now)[-1]
    assert line == "login: refreshes itself (access token valid until Fri 31 Dec 9999 23:00 UTC)"


def test_a_rate_of_float_noise_forecasts_no_date_beyond_the_calendar():
    from watcher.core.model import Sample
    from watcher.core.pace import forecast

    samples = (Sample(T0 + 10 * HOUR, 50.0), Sample(T0 + 12 * HOUR, 50.0 + 1e-12))
    outlook = forecast(samples, 50.0 + 1e-12, T0 + 12 * HOUR, T0, T0 + 7 * 24 * HOUR)
    assert outlook is not None and not outlook.runs_out_before_reset
