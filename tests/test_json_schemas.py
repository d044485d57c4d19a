"""The JSON Schemas of `--status --json`, `--check --json` and `--explain --json`
(watcher/schemas/, draft 2020-12,
shipped in the wheel): each is a valid schema, every document the real commands print in the
scenarios below validates against the one loaded from the installed package, every field they
print is described there, and the enumerations and known values match the code's own."""

from __future__ import annotations

import copy
import fnmatch
import importlib
import json
import pkgutil
import tomllib
from collections.abc import Iterator
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

import watcher
from tests.conftest import (
    ENTRY,
    MONTHLY_BODY,
    POOL_END,
    POOL_START,
    Home,
    cli_entry,
    point_at,
    pool_body,
)
from tests.fake_grok import FakeGrok, Reply
from watcher.config import ACCOUNT_NAME
from watcher.core.model import METERS, AlertKind, Severity
from watcher.core.outlook import OutlookKind
from watcher.errors import WatcherError
from watcher.status import STATUS_SCHEMA

REPO = Path(__file__).resolve().parent.parent
STATUS, CHECK = "status.schema.json", "check.schema.json"
EXPLAIN = "explain.schema.json"
SCHEMA_FILES = (STATUS, CHECK, EXPLAIN)
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def shipped_schemas() -> dict[str, dict[str, Any]]:
    """The schemas as the installed package holds them (not read from the checkout)."""
    folder = resources.files("watcher.schemas")
    return {name: json.loads(folder.joinpath(name).read_text("utf-8")) for name in SCHEMA_FILES}


SCHEMAS = shipped_schemas()


def registry(schemas: dict[str, dict[str, Any]]) -> Registry[Any]:
    """check.schema.json and explain.schema.json refer to status.schema.json's $defs (and
    explain.schema.json to check.schema.json's) by its $id: resolved here,
    offline, from the files themselves."""
    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )


OPEN = ("additionalProperties", "unevaluatedProperties")


def closed(node: Any) -> Any:
    """The schemas with every object closed (`additionalProperties: false`, and
    `unevaluatedProperties: false` on an object made of parts, e.g. a reading and an account's
    name): a document that passes these prints no field its schema does not describe."""
    if isinstance(node, dict):
        return {
            key: (False if key in OPEN and value is True else closed(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [closed(item) for item in node]
    return node


def validator(name: str, schemas: dict[str, dict[str, Any]] = SCHEMAS) -> Draft202012Validator:
    return Draft202012Validator(
        schemas[name],
        registry=registry(schemas),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def problem(name: str, document: Any, schemas: dict[str, dict[str, Any]] = SCHEMAS) -> str | None:
    error = best_match(validator(name, schemas).iter_errors(document))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(top)"
    return f"{name}: {where}: {error.message}"


def assert_valid(name: str, document: Any) -> None:
    assert problem(name, document) is None
    undescribed = problem(name, document, {n: closed(s) for n, s in SCHEMAS.items()})
    assert undescribed is None, f"a field the schema does not describe: {undescribed}"


def printed(result: Any) -> Any:
    """The one JSON object a --json command printed on stdout."""
    assert result.out.count("\n") == 1, result.out
    return json.loads(result.out)


# --- the schema files themselves ---------------------------------------------------------------


def test_the_schemas_are_valid_draft_2020_12_schemas_with_an_id_and_version_1():
    for name, schema in SCHEMAS.items():
        assert schema["$schema"] == DIALECT
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] == f"https://grok-usage-watcher.invalid/schemas/{name}"
        assert schema["title"] and schema["description"]
    assert SCHEMAS[STATUS]["$defs"]["schemaVersion"]["const"] == STATUS_SCHEMA == 1


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_every_reference_resolves():
    resolvers = registry(SCHEMAS)
    for schema in SCHEMAS.values():
        resolver = resolvers.resolver(base_uri=schema["$id"])
        refs = set(references(schema))
        assert refs
        for ref in refs:
            resolver.lookup(ref)  # raises when the $ref points at nothing


def test_every_schema_file_ships_in_the_wheel():
    """tests/test_packaging.py builds the wheel and finds the package (its __init__.py); the
    JSON files go in only through package-data: each must match one of its globs."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "watcher.schemas" in setuptools["packages"]
    globs = setuptools["package-data"]["watcher.schemas"]
    files = [p for p in (REPO / "watcher" / "schemas").iterdir() if p.is_file()]
    data = {p.name for p in files if p.suffix != ".py"}
    assert data == set(SCHEMA_FILES)  # a schema added is tested here too
    assert all(any(fnmatch.fnmatch(name, glob) for glob in globs) for name in data)
    installed = {p.name for p in resources.files("watcher.schemas").iterdir()}
    assert set(SCHEMA_FILES) <= installed


def error_kinds() -> set[str]:
    """Every WatcherError's `kind`, in every module of the watcher."""
    for module in pkgutil.walk_packages(watcher.__path__, "watcher."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    kinds, todo = set(), [WatcherError]
    while todo:
        cls = todo.pop()
        kinds.add(cls.kind)
        todo.extend(cls.__subclasses__())
    return kinds


def test_the_known_values_are_the_codes_own():
    defs = SCHEMAS[STATUS]["$defs"]
    reading = defs["reading"]["properties"]
    assert reading["meter"]["enum"] == list(METERS)
    assert defs["pace"]["properties"]["verdict"]["enum"] == list(get_args(OutlookKind))
    assert defs["accountName"]["pattern"] == f"^{ACCOUNT_NAME.pattern}$"
    # The named-logins form has none of the reading's fields at its top: all of them.
    assert defs["namedStatus"]["propertyNames"]["not"]["enum"] == defs["reading"]["required"]
    alert = SCHEMAS[CHECK]["$defs"]["alert"]["properties"]
    assert alert["severity"]["enum"] == [s.label for s in Severity]
    explain = SCHEMAS[EXPLAIN]["$defs"]
    verdict = explain["account"]["properties"]["pace"]["properties"]["verdict"]
    assert verdict["enum"] == [*get_args(OutlookKind), "off"]
    lets_through = explain["quiet"]["properties"]["lets_through"]["enum"]
    assert lets_through == [Severity.CRITICAL.label, Severity.WARNING.label, None]
    # Open sets: plain strings whose known values are listed, each in the description too.
    for listed, known in (
        (alert["kind"], {k.value for k in AlertKind}),
        (defs["errorKind"], error_kinds()),
    ):
        assert listed["type"] == "string" and "enum" not in listed
        assert set(listed["examples"]) == known
        assert all(f"`{value}`" in listed["description"] for value in known)


# --- every document the commands print ---------------------------------------------------------


def test_status_json_on_the_pool_validates(ready, run):
    result = run("--status", "--json")
    assert result.code == 0, result.err
    document = printed(result)
    assert document["meter"] == "pool" and document["pace"] and document["login"]
    assert document["pay_as_you_go"]["unit"] == "cents"
    assert_valid(STATUS, document)


def test_status_json_on_the_monthly_meter_validates(ready, grok, run):
    ready.write_config(point_at(grok, extra='billing = "legacy"\n'))
    grok.routes["/billing"] = Reply(json=MONTHLY_BODY)
    result = run("--status", "--json")
    assert result.code == 0, result.err
    document = printed(result)
    assert document["meter"] == "monthly" and document["used"] == 4277
    assert document["pay_as_you_go"]["unit"] is None
    assert_valid(STATUS, document)


def test_status_json_with_the_credits_used_up_validates(ready, grok, run):
    grok.routes["/billing?format=credits"] = Reply(json=pool_body(POOL_START, POOL_END, 100))
    document = printed(run("--status", "--json"))
    assert document["pace"]["verdict"] == "used_up"
    assert_valid(STATUS, document)


def test_status_json_on_a_login_error_validates(ready, run):
    ready.auth_path.unlink()
    result = run("--status", "--json")
    assert result.code == 1
    document = printed(result)
    assert document["error"]["kind"] == "not_logged_in"
    assert_valid(STATUS, document)


def test_status_json_on_a_config_error_validates(ready, grok, run):
    ready.write_config(point_at(grok) + "colour = 'red'\n")
    result = run("--status", "--json")
    assert result.code == 2
    document = printed(result)
    assert document["error"]["kind"] == "config"
    assert_valid(STATUS, document)


def test_status_json_on_a_refused_state_file_validates(ready, run):
    result = run("--status", "--json", "--state", str(ready.auth_path))
    assert result.code == 2
    document = printed(result)
    assert document["error"]["kind"] == "state_refused"
    assert_valid(STATUS, document)


def test_status_json_on_http_503_validates(ready, grok, run):
    grok.routes["/billing?format=credits"] = Reply(503)
    result = run("--status", "--json")
    assert result.code == 1
    document = printed(result)
    assert document["error"]["kind"] == "http_error"
    assert_valid(STATUS, document)


def test_check_json_when_an_alert_is_sent_and_then_nothing_is_due_validates(watching, sink, run):
    watching.serve(85)
    result = run("--check", "--json")
    assert result.code == 0, result.err
    sent = printed(result)
    assert sent["alerts"] and sent["deliveries"][0]["ok"] is True and sent["state_saved"]
    assert_valid(CHECK, sent)
    result = run("--check", "--json")
    assert result.code == 0, result.err
    quiet = printed(result)
    assert quiet["alerts"] == [] and quiet["deliveries"] == []
    assert_valid(CHECK, quiet)


def test_check_json_with_a_failed_target_validates(watching, sink, run):
    sink.status = 500
    watching.serve(85)
    result = run("--check", "--json")
    assert result.code == 1
    document = printed(result)
    (delivery,) = document["deliveries"]
    assert delivery["sent"] is True and delivery["ok"] is False and delivery["reason"]
    assert document["pending"] == 1
    assert_valid(CHECK, document)


def test_check_json_on_a_failed_reading_validates(watching, grok, run):
    grok.routes["/billing?format=credits"] = Reply(503)
    result = run("--check", "--json")
    assert result.code == 1
    document = printed(result)
    assert document["reading"]["error"]["kind"] == "http_error"
    assert_valid(CHECK, document)


def test_check_json_on_a_login_problem_validates(watching, sink, run):
    watching.auth_path.unlink()
    result = run("--check", "--json")
    document = printed(result)
    assert document["reading"]["error"]["kind"] == "not_logged_in"
    assert [a["kind"] for a in document["alerts"]] == ["login"]
    assert document["alerts"][0]["severity"] == "critical"
    assert_valid(CHECK, document)


def test_check_json_dry_run_validates(watching, sink, run):
    watching.serve(85)
    result = run("--check", "--dry-run", "--json")
    assert result.code == 0, result.err
    document = printed(result)
    assert document["dry_run"] is True and document["state_saved"] is False
    (delivery,) = document["deliveries"]
    assert delivery["sent"] is False and delivery["ok"] is None
    assert_valid(CHECK, document)


def test_check_json_on_the_monthly_meter_validates(watching, grok, sink, run):
    urls = json.dumps([sink.url()])
    watching.write_config(
        point_at(grok, extra='billing = "legacy"\n') + f"[notify]\nurls = {urls}\n"
    )
    grok.routes["/billing"] = Reply(json=MONTHLY_BODY)
    result = run("--check", "--json")
    assert result.code == 0, result.err
    document = printed(result)
    assert document["reading"]["meter"] == "monthly"
    assert_valid(CHECK, document)


def test_check_json_on_a_config_error_validates(watching, grok, run):
    watching.write_config(point_at(grok) + "colour = 'red'\n")
    result = run("--check", "--json")
    assert result.code == 2
    document = printed(result)
    assert document["error"]["kind"] == "config"
    assert_valid(CHECK, document)
    watching.configure()
    result = run("--check", "--json", "--state", str(watching.auth_path))
    assert result.code == 2
    refused = printed(result)
    assert refused["error"]["kind"] == "state_refused"
    assert_valid(CHECK, refused)


# --- several logins: [[accounts]] ---------------------------------------------------------------

NAMED = '[[accounts]]\nname = "personal"\ngrok_home = "~/.grok"\n'
NAMED += '[[accounts]]\nname = "work"\ngrok_home = "~/.grok-work"\n'


@pytest.fixture
def named(ready: Home, grok: FakeGrok, sink: Any) -> Home:
    """Two named logins, `personal` (~/.grok, the conftest's) and `work` (~/.grok-work, another
    user), both read from the fake server; alerts go to the webhook sink."""
    work = ready.root / ".grok-work" / "auth.json"
    work.parent.mkdir()
    work.write_text(
        json.dumps({ENTRY: cli_entry("access-2", refresh="refresh-2", user_id="user-2")})
    )
    work.chmod(0o600)
    grok.accepted_tokens.add("access-2")
    urls = json.dumps([sink.url()])
    ready.write_config(point_at(grok) + f"[notify]\nurls = {urls}\n" + NAMED)
    ready.work_auth_path = work  # type: ignore[attr-defined]
    return ready


def test_status_json_of_one_login_also_lists_it_as_the_default_account(ready, run):
    document = printed(run("--status", "--json"))
    (account,) = document["accounts"]
    assert account["name"] == "default" and account["names"] == ["default"]
    top = {k: v for k, v in document.items() if k not in ("schema", "accounts", "quiet")}
    assert {k: v for k, v in account.items() if k not in ("name", "names")} == top
    assert_valid(STATUS, document)


def test_status_json_with_named_logins_validates(named, run):
    result = run("--status", "--json")
    assert result.code == 0, result.err
    document = printed(result)
    assert set(document) == {"schema", "accounts", "quiet"}  # no reading at the top
    assert [(a["name"], a["names"]) for a in document["accounts"]] == [
        ("personal", ["personal"]),
        ("work", ["work"]),
    ]
    assert all(a["meter"] == "pool" and a["login"] for a in document["accounts"])
    assert_valid(STATUS, document)


def test_status_json_with_a_named_login_that_cannot_be_read_validates(named, run):
    named.work_auth_path.unlink()
    result = run("--status", "--json")
    assert result.code == 1
    document = printed(result)
    personal, work = document["accounts"]
    assert personal["name"] == "personal" and personal["percent_used"] == 83.4
    assert work == {
        "name": "work",
        "names": ["work"],
        "error": {"kind": "not_logged_in", "message": work["error"]["message"]},
        "snooze": None,  # a snooze is the login's, read or not
    }
    assert_valid(STATUS, document)


def test_status_json_with_two_names_for_one_login_validates(named, run):
    """`work`'s file holds the same user as `personal`'s: read once, under both names."""
    named.work_auth_path.write_text(json.dumps({ENTRY: cli_entry("access-2", refresh="refresh-2")}))
    result = run("--status", "--json")
    assert result.code == 0, result.err
    document = printed(result)
    (account,) = document["accounts"]
    assert account["name"] == "personal" and account["names"] == ["personal", "work"]
    assert_valid(STATUS, document)


def test_check_json_with_named_logins_validates(named, run):
    result = run("--check", "--json")
    assert result.code == 0, result.err
    document = printed(result)
    assert "reading" not in document
    personal, work = document["accounts"]
    assert [personal["name"], work["name"]] == ["personal", "work"]
    assert personal["reading"]["meter"] == work["reading"]["meter"] == "pool"
    assert personal["alerts"] and work["alerts"]
    assert document["alerts"] == personal["alerts"] + work["alerts"]
    assert document["pending"] == personal["pending"] + work["pending"] == 0
    (delivery,) = document["deliveries"]
    assert delivery["ok"] is True and document["state_saved"] is True
    assert_valid(CHECK, document)


def test_check_json_with_a_named_login_that_cannot_be_read_validates(named, run):
    named.work_auth_path.unlink()
    result = run("--check", "--json")
    document = printed(result)
    personal, work = document["accounts"]
    assert "read_at" in personal["reading"]
    assert work["reading"]["error"]["kind"] == "not_logged_in"
    assert [a["kind"] for a in work["alerts"]] == ["login"]
    assert_valid(CHECK, document)


def test_check_json_dry_run_with_named_logins_validates(named, run):
    result = run("--check", "--dry-run", "--json")
    assert result.code == 0, result.err
    document = printed(result)
    assert document["dry_run"] is True and document["state_saved"] is False
    assert "reading" not in document and len(document["accounts"]) == 2
    (delivery,) = document["deliveries"]
    assert delivery["sent"] is False and delivery["ok"] is None
    assert document["pending"] == sum(a["pending"] for a in document["accounts"])
    assert_valid(CHECK, document)


# --- --explain --json ---------------------------------------------------------------------------


def explain_json(run: Any, *argv: str) -> dict[str, Any]:
    result = run("--explain", "--json", *argv)
    assert result.code == 0, result.err
    document = printed(result)
    assert_valid(EXPLAIN, document)
    return document


def test_explain_json_before_any_check_validates(ready, run):
    document = explain_json(run)
    (account,) = document["accounts"]
    assert account["name"] == "default"
    assert account["usage"] is None and account["pace"] is None
    assert all(t["fired_at"] is None for t in account["thresholds"])
    assert document["quiet"]["windows"] == [] and document["quiet"]["now"] is False


def test_explain_json_after_a_check_validates(watching, sink, run):
    watching.serve(83)
    assert run("--check").code == 0
    document = explain_json(run)
    (account,) = document["accounts"]
    assert account["usage"]["percent_used"] == 83 and account["usage"]["meter"] == "pool"
    assert [t["threshold"] for t in account["thresholds"] if t["fired_at"]] == [50, 80]
    assert account["pace"]["verdict"] == "off" and account["pace"]["reason"]
    assert account["pending"] == [] and account["snooze"] is None


def test_explain_json_with_a_forecast_validates(ready, run):
    assert run("--check").code == 0
    (account,) = explain_json(run)["accounts"]
    assert account["pace"]["verdict"] != "off" and account["pace"]["samples"] >= 1


def test_explain_json_with_named_logins_validates(named, run):
    assert run("--check").code == 0
    document = explain_json(run)
    assert [a["name"] for a in document["accounts"]] == ["personal", "work"]
    assert all(a["usage"] for a in document["accounts"])
    (work,) = explain_json(run, "--account", "work")["accounts"]
    assert work["name"] == "work"


def test_explain_json_with_an_alert_held_in_quiet_hours_validates(watching, sink, run):
    # A window from an hour ago to an hour ahead, in this process's wall time (TZ=UTC).
    now = datetime.now().replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    watching.configure(extra=f'[[quiet]]\ntimes = ["{start:%H:%M}-{end:%H:%M}"]\n')
    watching.serve(55)
    assert run("--check").code == 0
    assert sink.titles() == []
    document = explain_json(run)
    (account,) = document["accounts"]
    (pending,) = account["pending"]
    assert pending["kind"] == "threshold" and pending["severity"] == "info"
    assert pending["held_since"] and pending["delivered_to"] == []
    quiet = document["quiet"]
    assert quiet["now"] is True and quiet["until"] and quiet["lets_through"] == "critical"


def test_explain_json_with_a_snooze_validates(watching, sink, run):
    watching.serve(55)
    assert run("--check").code == 0
    assert run("--snooze", "2h").code == 0
    (account,) = explain_json(run)["accounts"]
    assert account["snooze"]["include_critical"] is False


def test_check_explain_json_validates_as_a_check_and_its_explain(watching, sink, run):
    watching.serve(55)
    result = run("--check", "--explain", "--json")
    assert result.code == 0, result.err
    document = printed(result)
    # check.schema.json allows fields it does not list, such as `explain`, described here:
    assert problem(CHECK, document) is None
    assert_valid(CHECK, without(document, "explain"))
    explain = document["explain"]
    assert explain["check"]["lines"][0].startswith("decided ")
    assert_valid(EXPLAIN, explain)


def test_explain_json_on_a_config_error_validates(ready, grok, run):
    ready.write_config(point_at(grok) + "colour = 'red'\n")
    result = run("--explain", "--json")
    assert result.code == 2
    document = printed(result)
    assert document["error"]["kind"] == "config"
    assert_valid(EXPLAIN, document)


# --- and the schemas do refuse -------------------------------------------------------------------


def without(document: dict[str, Any], *path: str | int) -> dict[str, Any]:
    """A copy of the document without the field at `path`."""
    changed = copy.deepcopy(document)
    parent: Any = changed
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return changed


def replaced(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of the document with `value` at `path`."""
    changed = copy.deepcopy(document)
    parent: Any = changed
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return changed


def test_a_wrong_version_or_a_missing_field_fails_validation(watching, sink, run):
    watching.serve(85)
    check = printed(run("--check", "--json"))
    reading = {"schema": 1, **check["reading"]}
    error = {"schema": 1, "error": {"kind": "config", "message": "…"}}
    assert_valid(STATUS, reading)
    assert_valid(CHECK, check)
    assert_valid(STATUS, error)

    for name, document in (
        (STATUS, {**reading, "schema": 2}),
        (STATUS, {**error, "schema": 2}),
        (CHECK, {**check, "schema": 2}),
        (STATUS, without(reading, "percent_used")),
        (STATUS, without(reading, "schema")),  # only --check's reading leaves it out
        (STATUS, without(reading, "period", "end")),
        (STATUS, without(error, "error", "message")),
        (STATUS, {**reading, "meter": "hourly"}),
        (STATUS, {**reading, "read_at": "2026-11-26T09:10:00"}),  # no offset
        (STATUS, {**reading, "percent_used": "83.4"}),
        (CHECK, without(check, "state_saved")),
        (CHECK, without(check, "reading", "read_at")),
        (CHECK, without(check, "alerts", 0, "severity")),
        (CHECK, without(check, "deliveries", 0, "ok")),
        (CHECK, {**check, "pending": -1}),
    ):
        assert problem(name, document) is not None, document


def test_the_named_and_the_one_login_forms_do_refuse(named, grok, run):
    """With [[accounts]] the reading is in each entry, never half at the top; without, the
    whole reading is still required at the top, `accounts` or not."""
    named.work_auth_path.unlink()
    status = printed(run("--status", "--json"))
    check = printed(run("--check", "--json"))
    assert_valid(STATUS, status)
    assert_valid(CHECK, check)
    named.write_config(point_at(grok))  # one unnamed login again
    one = printed(run("--status", "--json"))
    one_check = printed(run("--check", "--dry-run", "--json"))
    assert_valid(STATUS, one)
    assert_valid(CHECK, one_check)
    # Documents of versions that watched one login only (no `accounts`) are still schema 1.
    assert_valid(STATUS, without(one, "accounts"))
    assert_valid(CHECK, without(one_check, "accounts"))

    reading = {k: v for k, v in one.items() if k not in ("schema", "accounts")}
    for name, document in (
        (STATUS, without(status, "accounts", 0, "name")),
        (STATUS, without(status, "accounts", 1, "names")),
        (STATUS, without(status, "accounts", 0, "percent_used")),
        (STATUS, without(status, "accounts", 1, "error", "kind")),
        (STATUS, without(status, "accounts")),
        (STATUS, {**status, "accounts": []}),
        (STATUS, without({**status, **reading}, "percent_used")),  # half a reading at the top
        (STATUS, {**status, "read_at": one["read_at"]}),  # a reading at the top is whole
        (STATUS, replaced(status, ("accounts", 0, "name"), "my account")),  # not a name
        (STATUS, replaced(status, ("accounts", 0, "names"), [])),
        (STATUS, without(one, "percent_used")),  # `accounts` does not excuse the reading
        (STATUS, without(without(one, "read_at"), "percent_used")),
        (STATUS, without(one, "accounts", 0, "name")),
        (STATUS, {**one, "accounts": one["accounts"] * 2}),  # one unnamed login: one entry
        (CHECK, without(check, "accounts")),  # no reading at the top: accounts say it
        (CHECK, without(check, "accounts", 0, "pending")),
        (CHECK, without(check, "accounts", 1, "reading", "error")),
        (CHECK, without(check, "accounts", 1, "alerts", 0, "severity")),
        (CHECK, without(check, "accounts", 0, "reading", "login")),
        (CHECK, replaced(check, ("accounts", 0, "name"), "")),
        (CHECK, without(without(one_check, "reading"), "accounts")),
        (CHECK, without(one_check, "reading", "percent_used")),
    ):
        assert problem(name, document) is not None, document


def test_the_explain_schema_does_refuse(watching, sink, run):
    watching.serve(83)
    assert run("--check").code == 0
    document = explain_json(run)
    for changed in (
        {**document, "schema": 2},
        without(document, "accounts"),
        without(document, "quiet", "now"),
        without(document, "accounts", 0, "thresholds", 0, "fired_at"),
        replaced(document, ("accounts", 0, "pace", "verdict"), "unknown"),
        replaced(document, ("accounts", 0, "usage", "meter"), "hourly"),
        replaced(document, ("accounts", 0, "usage", "read_at"), "2026-11-26T09:10:00"),
        replaced(document, ("quiet", "lets_through"), "info"),
        replaced(document, ("accounts", 0, "name"), "my account"),
    ):
        assert problem(EXPLAIN, changed) is not None, changed


def test_added_fields_stay_valid(watching, sink, run):
    """Compatible: a field added anywhere does not break a reader validating with schema 1."""
    watching.serve(85)
    check = printed(run("--check", "--json"))
    check["new_field"] = 1
    check["reading"]["period"]["new_field"] = "x"
    check["alerts"][0]["new_field"] = None
    assert problem(CHECK, check) is None


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_an_undescribed_field_is_caught(name):
    document = {"schema": 1, "error": {"kind": "config", "message": "…", "hint": "?"}}
    assert problem(name, document) is None
    closed_schemas = {n: closed(s) for n, s in SCHEMAS.items()}
    assert problem(name, document, closed_schemas) is not None
