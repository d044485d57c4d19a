"""README and `--help` against the code, so that neither can fall behind it.

Everything is read live: the flags from what the real parser prints for `--help`, the exit
codes from `watcher/cli.py`'s EXIT_* constants, the config keys from `_SCHEMA` (and an
`[[accounts]]` table's from `_ACCOUNT_KEYS`), the environment
variables from the code that reads them. A flag added to the parser fails here until README
mentions it; a command README shows fails here when the real parser (and `main`'s checks of
which flag goes with which mode) would refuse it. Each checker is also tried on a text it must
reject, so that none passes by finding nothing.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from watcher import cli
from watcher.config import _ACCOUNT_KEYS, _SCHEMA, QUIET_KEYS, load_config
from watcher.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROGRAM = "grok-usage-watcher"
HELP_WIDTH = 80  # --help must read well in an 80-column terminal


# -- the checkers ---------------------------------------------------------------------------


def help_text(monkeypatch: pytest.MonkeyPatch) -> str:
    """What `grok-usage-watcher --help` prints in an 80-column terminal."""
    monkeypatch.setenv("COLUMNS", str(HELP_WIDTH))
    return cli.build_parser().format_help()


def help_sections(text: str) -> dict[str, list[str]]:
    """`title:` lines of --help (unindented) and the indented lines under each."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = sections.setdefault(line[:-1], [])
        elif line.startswith(" ") and current is not None:
            current.append(line)
        elif not line.strip():
            current = None
    return sections


def section(text: str, prefix: str) -> tuple[str, list[str]]:
    """(title, lines) of the one section of --help whose title starts with `prefix`."""
    found = [item for item in help_sections(text).items() if item[0].startswith(prefix)]
    assert len(found) == 1, f"--help has no single section titled {prefix!r}…"
    return found[0]


def flags_in(text: str) -> list[str]:
    """Every flag a text names (`-v`, `--dry-run`), in order, once each."""
    return list(dict.fromkeys(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", text)))


def missing_from(document: str, words: list[str]) -> list[str]:
    """The words (flags, variable names) `document` never names as a whole word."""
    return [
        word for word in words if not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", document)
    ]


def option_entries(text: str) -> dict[str, list[str]]:
    """Each option --help lists (by its first flag) -> its lines; more than one is a wrap."""
    entries: dict[str, list[str]] = {}
    for title, lines in help_sections(text).items():
        if title.startswith(("usage", "exit codes", "environment")):
            continue
        current: list[str] | None = None
        for line in lines:
            if re.match(r"  -", line):
                current = entries.setdefault(flags_in(line)[0], [])
                current.append(line)
            elif current is not None:
                current.append(line)
    return entries


def help_exit_codes(text: str) -> set[int]:
    title, lines = section(text, "exit codes")
    return {int(n) for n in re.findall(r"(?<![\w.-])\d+(?![\w.%])", "\n".join([title, *lines]))}


def names_column(line: str) -> str:
    """`  NAME, NAME   what it does` -> `NAME, NAME`"""
    return re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]


def help_environment(text: str) -> set[str]:
    names: set[str] = set()
    for line in section(text, "environment")[1]:
        if re.match(r"  \S", line):
            names.update(re.findall(r"[A-Z][A-Z0-9_]+", names_column(line)))
    return names


def readme_table(document: str, heading: str) -> list[list[str]]:
    """The cells of the first table under `heading`, header and rule left out."""
    after = document.split(f"\n{heading}\n", 1)
    assert len(after) == 2, f"README has no {heading!r}"
    rows = []
    for line in after[1].lstrip("\n").splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[2:]


def readme_exit_codes(document: str) -> set[int]:
    table = readme_table(document, "### Messages and exit codes")
    return {int(n) for row in table for n in re.findall(r"\d+", row[0])}


def readme_environment(document: str) -> set[str]:
    table = readme_table(document, "### Environment")
    return {name for row in table for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", row[0])}


_ENVIRON = r"\b(?:\w+\.)*(?:\w*environ\w*|env)\b"  # the mapping: os.environ, environ, env
_NAME = r"""["']([A-Z][A-Z0-9_]*)["']"""
ENV_READS = [
    re.compile(rf"{_ENVIRON}(?:\.get|\.setdefault|\.pop)\(\s*{_NAME}"),
    re.compile(rf"{_ENVIRON}\[\s*{_NAME}\s*\]"),
    re.compile(rf"\bgetenv\(\s*{_NAME}"),
    re.compile(rf"{_NAME}\s+(?:not\s+)?in\s+{_ENVIRON}\b"),
    re.compile(rf"^\s*[A-Z_]*ENV[A-Z_]*\s*=\s*{_NAME}", re.MULTILINE),  # API_BASE_ENV = "…"
]


def environment_read_in(source: str) -> set[str]:
    """The environment variables a module's source reads by name."""
    return {name for pattern in ENV_READS for name in pattern.findall(source)}


def fenced_blocks(document: str) -> list[tuple[int, str, list[str]]]:
    """(line number of the opening fence, language, lines) for each fenced code block."""
    blocks = []
    opened: tuple[int, str] | None = None
    lines: list[str] = []
    for number, line in enumerate(document.splitlines(), 1):
        if line.startswith("```"):
            if opened is None:
                opened, lines = (number, line[3:].strip()), []
            else:
                blocks.append((*opened, lines))
                opened = None
        elif opened is not None:
            lines.append(line)
    return blocks


CRON_TIMES = re.compile(r"^\s*(?:[\d*/,-]+\s+){5}")  # a crontab line: five time fields, a command
OPERATORS = {"&&", "||", ";", "|", "&", "(", ")", ";;"}
ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")


def commands_in_line(line: str) -> list[list[str]]:
    """The arguments of every `grok-usage-watcher` a shell (or crontab) line runs."""
    lexer = shlex.shlex(CRON_TIMES.sub("", line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    simple: list[list[str]] = [[]]
    for token in lexer:
        if token in OPERATORS:
            simple.append([])
        else:
            simple[-1].append(token)
    found = []
    for words in simple:
        while words and ASSIGNMENT.match(words[0]):
            words = words[1:]
        if words and Path(words[0]).name == PROGRAM:
            found.append(words[1:])
    return found


def readme_commands(document: str) -> list[tuple[int, list[str]]]:
    """(line of the block, arguments) of every command README's code blocks run: each line of a
    shell block, each `$ ` line of a console block (the rest is output)."""
    found = []
    for number, language, lines in fenced_blocks(document):
        if language not in ("", "sh", "bash", "shell", "console"):
            continue
        text = "\n".join(lines).replace("\\\n", " ")
        for line in text.splitlines():
            if language == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            found += [(number, args) for args in commands_in_line(line)]
    return found


def command_problem(args: list[str]) -> str | None:
    """Why `grok-usage-watcher ARGS` would be refused before running anything, or None."""
    parser = cli.build_parser()
    parser.allow_abbrev = False  # README spells flags out
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            namespace = parser.parse_args(args)
    except SystemExit as exit:  # --help and --version exit 0 once printed
        return None if exit.code == 0 else said.getvalue().strip().splitlines()[-1]
    return cli._misuse(namespace)


def readme_marked_block(document: str, marker: str) -> list[str] | None:
    """The code block right after the line `<!-- marker -->`: what .ci/run runs."""
    lines = document.splitlines()
    for index, line in enumerate(lines):
        if line == f"<!-- {marker} -->":
            if index + 1 >= len(lines) or not lines[index + 1].startswith("```"):
                return None
            block = []
            for text in lines[index + 2 :]:
                if text.startswith("```"):
                    return block
                block.append(text)
    return None


def config_keys_shown(document: str) -> dict[str, set[str]]:
    """Section -> the keys README's TOML blocks give it; `[[accounts]]` is a list of tables."""
    shown: dict[str, set[str]] = {}
    for _, language, lines in fenced_blocks(document):
        if language == "toml":
            for name, value in tomllib.loads("\n".join(lines)).items():
                for table in value if isinstance(value, list) else [value]:
                    shown.setdefault(name, set()).update(table)
    return shown


def config_keys() -> dict[str, set[str]]:
    """Section -> every key the config may give it."""
    return {
        **{name: set(keys) for name, keys in _SCHEMA.items()},
        "accounts": set(_ACCOUNT_KEYS),
        "quiet": set(QUIET_KEYS),
    }


# -- README and --help against the code -----------------------------------------------------


def test_every_flag_help_prints_is_in_the_readme(monkeypatch):
    flags = flags_in(help_text(monkeypatch))
    assert {"--status", "--check", "--dry-run", "-v", "--verbose", "-h", "--help"} <= set(flags)
    assert missing_from(README, flags) == []


def test_help_gives_every_mode_and_flag_one_short_line(monkeypatch):
    text = help_text(monkeypatch)
    entries = option_entries(text)
    assert {"--status", "--uninstall-service", "--dry-run", "--config", "-h", "--version"} <= set(
        entries
    )
    assert {flag: lines for flag, lines in entries.items() if len(lines) != 1} == {}
    assert [line for line in text.splitlines() if len(line) >= HELP_WIDTH] == []


def test_exit_codes_are_the_same_in_the_code_help_and_readme(monkeypatch):
    codes = {value for name, value in vars(cli).items() if name.startswith("EXIT_")}
    assert codes == {0, 1, 2, 3, 130, 143}
    assert help_exit_codes(help_text(monkeypatch)) == codes
    assert readme_exit_codes(README) == codes


def test_help_gives_the_exit_codes_of_every_mode(monkeypatch):
    text = help_text(monkeypatch)
    modes = [flags_in(line)[0] for line in section(text, "modes")[1]]
    assert "--check" in modes
    lines = section(text, "exit codes")[1]
    starts = [line.split()[0] for line in lines if re.match(r"  \S", line)]
    assert [mode for mode in modes if mode not in starts] == []


def test_environment_variables_are_the_same_in_the_code_help_and_readme(monkeypatch):
    in_help = help_environment(help_text(monkeypatch))
    read = set().union(
        *(environment_read_in(path.read_text()) for path in (ROOT / "watcher").rglob("*.py"))
    )
    assert {"GROK_HOME", "GROK_CLI_CHAT_PROXY_BASE_URL", "XDG_STATE_HOME", "PATH"} <= read
    assert read - in_help == set(), "read by the code, not in --help"
    assert {"TZ", "NO_COLOR", "FORCE_COLOR", "TERM", "HTTPS_PROXY"} <= in_help
    assert readme_environment(README) == in_help


def test_every_config_key_is_shown_in_the_readme():
    shown = config_keys_shown(README)
    schema = config_keys()
    assert schema["accounts"] >= {"name", "grok_home", "auth_file", "targets"}
    assert {name: keys - shown.get(name, set()) for name, keys in schema.items()} == {
        name: set() for name in schema
    }
    assert {name: keys - schema.get(name, set()) for name, keys in shown.items()} == {
        name: set() for name in shown
    }


def test_every_config_example_in_the_readme_loads(tmp_path):
    for number, language, lines in fenced_blocks(README):
        if language == "toml":
            path = tmp_path / f"line-{number}.toml"
            path.write_text("\n".join(lines))
            try:
                load_config(path, {"HOME": str(tmp_path)})
            except ConfigError as error:
                pytest.fail(f"README line {number}: {error.message}")


def test_every_command_in_the_readme_parses():
    commands = readme_commands(README)
    assert len(commands) >= 10
    assert ["--check"] in [args for _, args in commands]  # the crontab line
    problems = [
        f"README line {number}: {PROGRAM} {shlex.join(args)}: {problem}"
        for number, args in commands
        if (problem := command_problem(args))
    ]
    assert problems == []


def test_the_setup_blocks_ci_runs_are_there():
    """.ci/run runs these blocks word for word in a new account (README, "Development")."""
    for marker in ("setup", "setup-venv", "after-setup", "desktop"):
        assert readme_marked_block(README, marker), f"no code block right after <!-- {marker} -->"
    after = readme_marked_block(README, "after-setup")
    assert after is not None
    assert [args for line in after for args in commands_in_line(line)] == [["--status"]]


# -- the checkers reject what they must -----------------------------------------------------


def test_a_flag_left_out_of_the_readme_is_caught(monkeypatch):
    flags = flags_in(help_text(monkeypatch))
    left_out = README.replace("--dry-run", "--dry")
    assert set(missing_from(left_out, flags)) - set(missing_from(README, flags)) == {"--dry-run"}
    assert missing_from("`--check` or `--checks`, `-vv`", ["--check", "-v"]) == ["-v"]
    assert flags_in("  -h, --help   show; pay-as-you-go, Ctrl-C, --json") == [
        "-h",
        "--help",
        "--json",
    ]


def test_a_wrapped_or_long_help_line_is_caught():
    text = (
        "usage: x\n\nmodes:\n  --status   one line\n  --check    two\n"
        "             lines\n\nother options:\n  -v, --verbose  ok\n"
    )
    assert option_entries(text) == {
        "--status": ["  --status   one line"],
        "--check": ["  --check    two", "             lines"],
        "-v": ["  -v, --verbose  ok"],
    }


def test_a_missing_exit_code_or_variable_is_caught(monkeypatch):
    codes = readme_exit_codes(README)
    without_143 = re.sub(r"\n\| 143 \|.*", "", README)
    assert codes - readme_exit_codes(without_143) == {143}
    names = readme_environment(README)
    without_tz = re.sub(r"\n\| `TZ` \|.*", "", README)
    assert names - readme_environment(without_tz) == {"TZ"}
    text = "exit codes (0 ok):\n  --a  1 bad; 130 Ctrl-C\n\nenvironment:\n  A_B, CD  x Y_Z\n"
    assert help_exit_codes(text) == {0, 1, 130}
    assert help_environment(text) == {"A_B", "CD"}
    source = (
        'x = environ.get("ONE")\nenv["TWO"]\nos.getenv("THREE")\nif "FOUR" in os.environ: pass\n'
        'FIVE_ENV = "FIVE"\nos.environ.setdefault("SIX", a)\nconfig.get("NOT_ENV")\n'
    )
    assert environment_read_in(source) == {"ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX"}


def test_a_config_key_left_out_is_caught():
    shown = config_keys_shown("```toml\n[grok]\nbilling = 'auto'\n```\n")
    assert shown == {"grok": {"billing"}}
    assert set(_SCHEMA["grok"]) - shown["grok"] == {
        "auth_file",
        "api_base",
        "token_url",
        "timeout_seconds",
    }
    accounts = config_keys_shown(
        "```toml\n[[accounts]]\nname = 'a'\ngrok_home = '~/a'\n"
        "[[accounts]]\nname = 'b'\nauth_file = '/b'\n```\n"
    )
    assert accounts == {"accounts": {"name", "grok_home", "auth_file"}}
    assert config_keys()["accounts"] - accounts["accounts"] == {
        "thresholds",
        "rearm_below",
        "forecast",
        "targets",
    }


def test_a_command_the_parser_refuses_is_caught():
    text = (
        "```sh\n"
        "grok-usage-watcher --status --check && TZ=UTC grok-usage-watcher --json\n"
        "journalctl --user -u grok-usage-watcher -p warning  # not the watcher\n"
        "~/.local/bin/grok-usage-watcher --stat\n"
        "```\n"
        "```console\n"
        "$ grok-usage-watcher --check --dry-run\n"
        "grok-usage-watcher: --bogus said by the program, not run\n"
        "```\n"
        "```\n"
        "*/5 * * * * ~/.local/bin/grok-usage-watcher --timer\n"
        "```\n"
        "```toml\n"
        'x = "grok-usage-watcher --bogus"\n'
        "```\n"
    )
    commands = [args for _, args in readme_commands(text)]
    assert commands == [
        ["--status", "--check"],
        ["--json"],
        ["--stat"],
        ["--check", "--dry-run"],
        ["--timer"],
    ]
    problems = [command_problem(args) for args in commands]
    assert problems[3] is None
    assert all(problems[:3]) and problems[4]
    assert "not allowed with argument" in str(problems[0])
    assert problems[1] == "--json goes with --status, --check or --explain"
    assert "unrecognized arguments: --stat" in str(problems[2])
    assert command_problem(["--help"]) is None
    assert command_problem(["--version"]) is None


def test_a_marker_without_its_block_is_caught():
    assert readme_marked_block("<!-- setup -->\n```sh\na\nb\n```\n", "setup") == ["a", "b"]
    assert readme_marked_block("<!-- setup -->\ntext\n```sh\na\n```\n", "setup") is None
    assert readme_marked_block("```sh\na\n```\n", "setup") is None
