"""config.toml: defaults, validation with one clear line, and where files are looked for."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from watcher.config import DEFAULT_THRESHOLDS, load_config
from watcher.errors import ConfigError
from watcher.grok.settings import DEFAULT_API_BASE, DEFAULT_TOKEN_URL
from watcher.paths import default_config_path


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(tmp_path), **extra}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_no_file_at_the_default_path_means_defaults(tmp_path):
    config = load_config(None, env_for(tmp_path))
    assert config.source is None
    assert config.grok.api_base == DEFAULT_API_BASE
    assert config.grok.token_url == DEFAULT_TOKEN_URL
    assert config.grok.billing == "auto"
    assert config.grok.timeout_seconds == 15
    assert config.grok.auth_file == tmp_path / ".grok" / "auth.json"
    assert config.alerts.thresholds == DEFAULT_THRESHOLDS
    assert config.notify.urls == ()
    assert config.schedule.interval == timedelta(minutes=5)


def test_the_default_path_follows_xdg(tmp_path):
    assert default_config_path(env_for(tmp_path)) == (
        tmp_path / ".config" / "grok-usage-watcher" / "config.toml"
    )
    assert default_config_path(env_for(tmp_path, XDG_CONFIG_HOME="/x")) == Path(
        "/x/grok-usage-watcher/config.toml"
    )


def test_a_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: no such config file"):
        load_config(tmp_path / "nope.toml", env_for(tmp_path))


def test_every_key(tmp_path):
    path = write(
        tmp_path,
        """
[grok]
auth_file = "~/elsewhere/auth.json"
api_base = "https://proxy.example/v1/"
token_url = "http://127.0.0.1:8080/token"
billing = "legacy"
timeout_seconds = 4.5

[alerts]
thresholds = [90, 50, 75.5, 90]

[notify]
urls = ["mailto://me@example.com"]

[schedule]
interval = "1h30s"
""",
    )
    config = load_config(path, env_for(tmp_path))
    assert config.schedule.interval == timedelta(hours=1, seconds=30)
    assert config.source == path
    assert config.grok.auth_file == tmp_path / "elsewhere" / "auth.json"
    assert config.grok.api_base == "https://proxy.example/v1"
    assert config.grok.token_url == "http://127.0.0.1:8080/token"
    assert config.grok.billing == "legacy"
    assert config.grok.timeout_seconds == 4.5
    assert config.alerts.thresholds == (50, 75.5, 90)
    assert config.notify.urls == ("mailto://me@example.com",)


def test_grok_home_moves_the_auth_file(tmp_path):
    config = load_config(None, env_for(tmp_path, GROK_HOME=str(tmp_path / "g")))
    assert config.grok.auth_file == tmp_path / "g" / "auth.json"


def test_the_clis_base_url_variable_overrides_the_default_but_not_the_config(tmp_path):
    env = env_for(tmp_path, GROK_CLI_CHAT_PROXY_BASE_URL="https://staging.example/v1")
    assert load_config(None, env).grok.api_base == "https://staging.example/v1"
    path = write(tmp_path, '[grok]\napi_base = "https://mine.example/v1"\n')
    assert load_config(path, env).grok.api_base == "https://mine.example/v1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[grok]\ntimout_seconds = 3\n",
            r"\[grok\] timout_seconds: unknown key \(did you mean timeout_seconds\?\)",
        ),
        ("[alert]\nthresholds = [50]\n", r"\[alert\]: unknown section \(did you mean alerts\?\)"),
        (
            '[grok]\nbilling = "weekly"\n',
            r"\[grok\] billing: must be one of \"auto\", \"credits\", \"legacy\", got 'weekly'",
        ),
        (
            '[grok]\ntimeout_seconds = "15"\n',
            r"\[grok\] timeout_seconds: expected a number, got a string",
        ),
        ("[grok]\ntimeout_seconds = 0\n", r"\[grok\] timeout_seconds: must be greater than 0"),
        ("[grok]\ntimeout_seconds = true\n", r"expected a number, got a boolean"),
        (
            "[alerts]\nthresholds = []\n",
            r"\[alerts\] thresholds: needs at least one threshold, like \[50, 80, 100\]$",
        ),
        (
            "thresholds = [50, 80]\n[alerts]\n",
            r"config.toml: `thresholds` belongs under \[alerts\]$",
        ),
        (
            "[grok]\nforecast = false\n",
            r"\[grok\] forecast: unknown key \(it belongs under \[alerts\]\)$",
        ),
        ("[alerts]\nthresholds = [50, -1]\n", r"\[alerts\] thresholds: must be greater than 0"),
        (
            "[alerts]\nthresholds = 80\n",
            r"\[alerts\] thresholds: expected a list of percents, like \[50, 80, 100\], got 80",
        ),
        (
            '[notify]\nurls = "json://localhost"\n',
            r"\[notify\] urls: expected a list of strings, got a string",
        ),
        ("grok = 3\n", r"grok: expected a \[grok\] table"),
        ("[grok\n", r"not valid TOML: .*line 1"),
        (
            '[grok]\napi_base = "http://grok.example/v1"\n',
            r"\[grok\] api_base: must be https:// unless the host is this machine",
        ),
        ('[grok]\ntoken_url = "http://10.0.0.1/token"\n', r"\[grok\] token_url: must be https://"),
        (
            '[grok]\napi_base = "ftp://grok.example"\n',
            r"\[grok\] api_base: expected an https:// URL",
        ),
        ('[grok]\napi_base = ""\n', r"\[grok\] api_base: expected a non-empty string"),
        # Quiet hours: Alertmanager's words where they fit, one line when they do not.
        (
            '[[quiet]]\nlocation = "Europe/Berlin"\n',
            r"\[\[quiet\]\] #1: needs times \(like \[\"22:00-07:30\"\]\) or weekdays",
        ),
        (
            '[[quiet]]\ntimes = ["22:00-07:30"]\ndays_of_month = ["1:7"]\n',
            r"\[\[quiet\]\] #1 days_of_month: not supported \(times, weekdays and location are\)$",
        ),
        (
            '[[quiet]]\ntimes = ["22:00-7:30"]\n',
            r"\[\[quiet\]\] #1 times: expected \"HH:MM-HH:MM\", like \"22:00-07:30\", "
            r"got '22:00-7:30'$",
        ),
        (
            '[[quiet]]\nweekdays = ["friday:monday"]\n',
            r"\[\[quiet\]\] #1 weekdays: a weekday range runs from earlier to later in the week",
        ),
        (
            '[[quiet]]\nweekdays = ["saturday"]\nlocation = "Mars/Olympus"\n',
            r"\[\[quiet\]\] #1 location: 'Mars/Olympus' is not a time zone this machine knows",
        ),
        (
            '[[quiet]]\ntimes = "22:00-07:30"\n',
            r"\[\[quiet\]\] #1 times: expected a list of strings, got a string$",
        ),
        (
            '[[quiet]]\ntime = ["22:00-07:30"]\n',
            r"\[\[quiet\]\] #1 time: unknown key \(did you mean times\?\)$",
        ),
        (
            '[[quiet]]\nweekdays = ["sunday"]\nlocation = "Europe"\n',
            r"\[\[quiet\]\] #1 location: 'Europe' is not a time zone this machine knows",
        ),
        (
            '[alerts]\nquiet_lets_through = "info"\n',
            r"\[alerts\] quiet_lets_through: must be one of \"critical\", \"warning\", \"none\"",
        ),
    ],
)
def test_mistakes_are_one_line_naming_file_section_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env_for(tmp_path))
    assert "\n" not in caught.value.message
    assert caught.value.message.startswith(str(path) + ": ")
    import re

    assert re.search(message, caught.value.message), caught.value.message


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:1/v1", "http://127.9.9.9/v1", "http://[::1]:8080/v1", "http://localhost/v1"],
)
def test_plain_http_is_allowed_to_loopback_only(tmp_path, url):
    path = write(tmp_path, f'[grok]\napi_base = "{url}"\n')
    assert load_config(path, env_for(tmp_path)).grok.api_base == url


def test_an_insecure_base_url_from_the_environment_is_refused(tmp_path):
    env = env_for(tmp_path, GROK_CLI_CHAT_PROXY_BASE_URL="http://grok.example/v1")
    with pytest.raises(ConfigError, match="GROK_CLI_CHAT_PROXY_BASE_URL: must be https://"):
        load_config(None, env)


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe[grok]")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path, env_for(tmp_path))


def test_the_example_config_names_every_key_and_means_the_defaults(tmp_path):
    from watcher.config import _SCHEMA

    example = Path(__file__).parent.parent / "config" / "config.example.toml"
    text = example.read_text()
    for section, keys in _SCHEMA.items():
        assert f"[{section}]" in text
        for key in keys:
            assert f"\n{key} = " in text or f"\n# {key} = " in text, key
    loaded = load_config(example, env_for(tmp_path))
    defaults = load_config(None, env_for(tmp_path))
    assert (loaded.grok, loaded.alerts, loaded.notify) == (
        defaults.grok,
        defaults.alerts,
        defaults.notify,
    )


def test_alert_and_notify_keys(tmp_path):
    path = write(
        tmp_path,
        '[alerts]\nrearm_below = 0\nforecast = false\nstale_after = "1h30m"\n'
        '[notify]\nurls = ["critical=json://localhost"]\nconfig = ["~/apprise.yml"]\n',
    )
    config = load_config(path, env_for(tmp_path))
    assert config.alerts.rearm_below == 0
    assert config.alerts.forecast is False
    assert config.alerts.stale_after == timedelta(hours=1, minutes=30)
    assert config.notify.urls == ("critical=json://localhost",)
    assert config.notify.config == (tmp_path / "apprise.yml",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[alerts]\nstale_after = "soon"\n', r'stale_after: expected a duration like "30s"'),
        ("[alerts]\nstale_after = 60\n", r"stale_after: expected a duration"),
        ('[alerts]\nforecast = "yes"\n', r"forecast: expected true or false, got 'yes'"),
        ("[alerts]\nrearm_below = -1\n", r"rearm_below: must be 0 or more"),
        ("[notify]\nconfig = [1]\n", r"\[notify\] config: expected a non-empty string"),
        ('[schedule]\ninterval = "5s"\n', r"\[schedule\] interval: must be at least 10s, got '5s'"),
        ("[schedule]\ninterval = 300\n", r'\[schedule\] interval: expected a duration like "90m"'),
        ('[schedule]\nevery = "5m"\n', r"\[schedule\] every: unknown key \(known: interval\)"),
    ],
)
def test_alert_and_notify_mistakes(tmp_path, text, message):
    import re

    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env_for(tmp_path))
    assert re.search(message, caught.value.message), caught.value.message


def test_quiet_windows_and_what_they_let_through(tmp_path):
    from zoneinfo import ZoneInfo

    from watcher.core.model import Severity

    path = write(
        tmp_path,
        '[alerts]\nquiet_lets_through = "none"\n'
        '[[quiet]]\ntimes = ["22:00-07:30"]\nweekdays = ["monday:friday"]\n'
        '[[quiet]]\nweekdays = ["saturday", "Sunday"]\nlocation = "America/New_York"\n',
    )
    config = load_config(path, env_for(tmp_path))
    weeknights, weekend = config.quiet
    assert weeknights.weekdays == frozenset(range(5)) and weeknights.zone is None
    assert [tuple(r) for r in weeknights.times] == [(1320, 1440), (0, 450)]
    assert weekend.weekdays == {5, 6} and weekend.times == ()
    assert weekend.zone == ZoneInfo("America/New_York")
    assert config.alerts.quiet_lets_through is None
    assert load_config(write(tmp_path, ""), env_for(tmp_path)).alerts.quiet_lets_through == (
        Severity.CRITICAL
    )
