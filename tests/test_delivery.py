"""Routing, grouping and at-least-once bookkeeping, with plain values and a scripted sender."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.core_values import RULES, T0, reading
from watcher.core.delivery import Outcome, Route, deliver, plan_messages, record_deliveries
from watcher.core.evaluate import evaluate
from watcher.core.model import Severity, State

NOW = T0 + timedelta(days=1)
ALL = Route("all")
WARN = Route("warn", Severity.WARNING)
CRIT = Route("crit", Severity.CRITICAL)


def state_after(*observations):
    state = State()
    for i, observation in enumerate(observations):
        state = evaluate(observation, state, RULES, NOW + timedelta(minutes=i)).state
    return state


def sender(results):
    """A sender scripted per target; records every call."""
    calls = []

    def send(target_id, message):
        calls.append((target_id, message))
        return results.get(target_id, Outcome(True))

    send.calls = calls
    return send


def test_severity_routing_by_tags():
    state = state_after(reading(55))  # 50 %: info
    assert set(plan_messages(state.pending, [ALL, WARN, CRIT])) == {"all"}
    state = state_after(reading(85))  # 80 %: warning
    assert set(plan_messages(state.pending, [ALL, WARN, CRIT])) == {"all", "warn"}
    state = state_after(reading(100))
    assert set(plan_messages(state.pending, [ALL, WARN, CRIT])) == {"all", "warn", "crit"}


def test_everything_due_goes_as_one_message_titled_by_the_most_important():
    from watcher.core.model import TokenInfo

    # A threshold and a token warning decided in the same check:
    token = TokenInfo(NOW + timedelta(hours=3), renewable=False)
    state = evaluate(reading(100, token=token), State(), RULES, NOW).state
    plan = plan_messages(state.pending, [ALL])
    message = plan["all"]
    # The title names the most important thing only; the body is its body, then the others.
    threshold = next(p.alert for p in state.pending if p.alert.key == "threshold:100")
    assert message.title == threshold.title == "Grok Build: weekly credits used up (100%)"
    assert message.body == f"{threshold.body}\n\nAlso:\n- Grok Build: login expires soon"
    assert "(+1 more)" not in message.title and not message.body.startswith(message.title)
    assert message.severity == Severity.CRITICAL
    assert message.alert_keys[0] == "threshold:100"


def test_a_failed_target_gets_it_again_a_successful_one_does_not():
    state = state_after(reading(85))
    routes = [Route("mail"), Route("slack")]
    plan = plan_messages(state.pending, routes)
    outcomes = deliver(plan, routes, sender({"slack": Outcome(False, "HTTP 500")}))
    state = record_deliveries(state, plan, outcomes, routes)
    (pending,) = state.pending
    assert pending.delivered_to == ("mail",)
    assert set(plan_messages(state.pending, routes)) == {"slack"}
    plan = plan_messages(state.pending, routes)
    state = record_deliveries(state, plan, deliver(plan, routes, sender({})), routes)
    assert state.pending == ()


def test_an_alert_no_target_wants_is_not_kept():
    state = state_after(reading(55))
    plan = plan_messages(state.pending, [CRIT])
    assert plan == {}
    assert record_deliveries(state, plan, {}, [CRIT]).pending == ()


def test_back_to_normal_only_to_the_targets_that_got_the_outage():
    from tests.core_values import NETWORK

    state = State()
    for i in range(3):
        state = evaluate(NETWORK, state, RULES, NOW + i * timedelta(minutes=40)).state
    routes = [Route("mail"), Route("slack")]
    plan = plan_messages(state.pending, routes)
    outcomes = deliver(plan, routes, sender({"slack": Outcome(False)}))
    state = record_deliveries(state, plan, outcomes, routes)
    assert state.outage.notified == ("mail",)
    state = evaluate(reading(10), state, RULES, NOW + timedelta(hours=3)).state
    plan = plan_messages(state.pending, routes)
    assert set(plan) == {"mail"}
    assert plan["mail"].title == "Grok Build: usage readable again"


def test_an_escalation_chain_stops_at_the_first_level_that_succeeds():
    routes = [Route("push", chain="phone", priority=1), Route("sms", chain="phone", priority=2)]
    state = state_after(reading(100))
    plan = plan_messages(state.pending, routes)
    send = sender({})
    outcomes = deliver(plan, routes, send)
    assert [c[0] for c in send.calls] == ["push"]
    assert outcomes["sms"] == Outcome(True, "escalation not needed", attempted=False)
    assert record_deliveries(state, plan, outcomes, routes).pending == ()


def test_an_escalation_chain_moves_on_when_a_level_fails():
    routes = [Route("push", chain="phone", priority=1), Route("sms", chain="phone", priority=2)]
    state = state_after(reading(100))
    plan = plan_messages(state.pending, routes)
    send = sender({"push": Outcome(False, "refused")})
    outcomes = deliver(plan, routes, send)
    assert [c[0] for c in send.calls] == ["push", "sms"]
    state = record_deliveries(state, plan, outcomes, routes)
    assert state.pending[0].delivered_to == ("sms",)


@given(
    st.lists(st.floats(0, 120, allow_nan=False), min_size=1, max_size=25),
    st.lists(st.sets(st.sampled_from(["a", "b", "c"])), min_size=25, max_size=25),
)
def test_every_alert_reaches_every_target_once_however_deliveries_fail(percents, failures):
    """Never two messages to a target in one check; a failed delivery is re-sent until it
    succeeds; a target that has an alert never gets it again."""
    routes = [Route("a"), Route("b", Severity.WARNING), Route("c", Severity.CRITICAL)]
    state = State()
    received: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    decided = []
    for i, percent in enumerate(percents):
        evaluation = evaluate(reading(percent), state, RULES, NOW + i * timedelta(minutes=5))
        decided += evaluation.alerts
        state = evaluation.state
        plan = plan_messages(state.pending, routes)
        send = sender({t: Outcome(False) for t in failures[i]})
        outcomes = deliver(plan, routes, send)
        targets_called = [c[0] for c in send.calls]
        assert len(targets_called) == len(set(targets_called))
        for target, message in send.calls:
            if outcomes[target].ok:
                for key in message.alert_keys:
                    assert key not in received[target] or key.startswith("threshold")
                    received[target].append(key)
        state = record_deliveries(state, plan, outcomes, routes)
    # Drain: all targets succeed from now on.
    for _ in range(2):
        plan = plan_messages(state.pending, routes)
        outcomes = deliver(plan, routes, sender({}))
        for target, message in plan.items():
            received[target] += message.alert_keys
        state = record_deliveries(state, plan, outcomes, routes)
    assert state.pending == ()
    # The highest threshold ever decided reached every target its severity routes to --
    # unless usage fell back under it before it could be delivered: what is sent is true.
    thresholds = [a for a in decided if a.kind == "threshold"]
    if thresholds and thresholds[-1].threshold in state.period.fired_thresholds:
        last = thresholds[-1]
        for route in routes:
            if last.severity >= route.min_severity:
                assert last.key in received[route.target_id]


def test_a_recorded_state_keeps_only_what_is_still_owed():
    state = state_after(reading(85))
    routes = [ALL]
    plan = plan_messages(state.pending, routes)
    failed = record_deliveries(state, plan, {"all": Outcome(False)}, routes)
    assert failed.pending == state.pending
    assert failed._replace(pending=()) == state._replace(pending=())
