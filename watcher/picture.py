"""`--status` on a terminal: the usage as a picture -- bars, the pace in words, the login.

Plain values in, text out: the caller reads Grok, the state and the login, formats times in
its own zone (the `when` and `span` formatters), and decides width, encoding and colour from
the terminal; this module only draws. So it is tested with plain values, and the plain
`--status` lines stay the fallback for pipes, narrow terminals and encodings without blocks.

    Grok Build  SuperGrok Heavy · me@example.com
    Weekly credits  ████████████████▌░░░  83%   resets Sat 28 Nov 07:21 CET (in 1 d 22 h)
                    period ━━━━━━━━━━━━━╸──────  68% elapsed · pace: runs out Fri 14:00 CET
    Pay as you go   disabled
    Login           refreshes itself (access token valid until 13:05 CET)

As the terminal narrows, the bars shrink from 40 cells to 20, then the "(in ...)" parts are
dropped, then the bars shrink towards 10 cells and what no longer fits moves to lines of its
own: a line is never longer than the width, so the terminal never wraps one.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from watcher.core.formatting import format_ago, whole_percent
from watcher.core.model import Severity, TokenInfo
from watcher.core.outlook import Outlook
from watcher.core.severity import threshold_severity

MIN_WIDTH = 40  # narrower terminals get the plain lines
MIN_BAR = 10
COMFORTABLE_BAR = 20  # the bars shrink below this only once the "(in ...)" parts are gone
MAX_BAR = 40
LABEL_COLUMN = 16  # "Weekly credits" and two spaces
MAX_LABEL_COLUMN = 20
CONTINUATION_INDENT = 2  # for what does not fit under the values' column either
HEADER = "Grok Build"

# Eighths of a cell, for the usage bar: index n draws n eighths.
_EIGHTHS = ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")
_FULL, _EMPTY = "█", "░"
# Halves of a cell, for the period bar.
_PERIOD_FULL, _PERIOD_HALF, _PERIOD_EMPTY = "━", "╸", "─"
# Every character the picture adds to the caller's texts: an output encoding must hold them.
GLYPHS = "".join(_EIGHTHS) + _FULL + _EMPTY + _PERIOD_FULL + _PERIOD_HALF + _PERIOD_EMPTY + "·…"

_COLOURS = {Severity.INFO: "32", Severity.WARNING: "33", Severity.CRITICAL: "31"}
_RESET = "\x1b[0m"


class StatusPicture(NamedTuple):
    """What the picture shows, as plain values.

    `meter_label` is "Weekly credits", "Monthly credits", ...; `used` the figures that may
    follow the percent ("4,277 of 60,000"), or None. `elapsed` is the percent of the period
    passed (`watcher.core.outlook.period_elapsed`); None leaves the period line out.
    `pay_as_you_go` is shown as given. `token` is the login's state (from the reading, or
    `watcher.grok.identity.describe_login`); None leaves the login line out. Every time is
    written by `when` (a moment) or `span` (a length of time), never by this module.
    """

    plan: str | None
    who: str | None
    meter_label: str
    percent: float
    used: str | None
    reset_at: datetime | None
    elapsed: float | None
    outlook: Outlook | None
    pay_as_you_go: str
    token: TokenInfo | None
    now: datetime
    when: Callable[[datetime], str]
    span: Callable[[timedelta], str]
    account: str | None = None  # the account's name, when the config names its logins


def fits(width: int, encoding: str | None) -> bool:
    """Can the picture be drawn: width at least MIN_WIDTH columns, and an output encoding
    that holds the block and line characters? If not, the caller prints the plain lines
    (a pipe to a file, a C locale, a serial console)."""
    if width < MIN_WIDTH or not encoding:
        return False
    try:
        GLYPHS.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


def use_colour(environ: Mapping[str, str], is_tty: bool) -> bool:
    """Colour or not, in this order: NO_COLOR (no-color.org) set and not empty -> none;
    FORCE_COLOR (force-color.org) set and not empty, whatever its value -> colour; TERM=dumb
    or not a terminal -> none; else colour."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return is_tty and environ.get("TERM") != "dumb"


def render(picture: StatusPicture, width: int, colour: bool) -> str:
    """The picture in at most `width` columns per line (for width >= MIN_WIDTH; see `fits`),
    with ANSI colour on the usage bar and percent when `colour`."""
    lines: list[list[_Segment]] = []
    for row in _rows_for(picture, width):
        lines.extend(_lay_out(row, width))
    return "\n".join(_joined(line, colour) for line in lines)


def usage_bar(percent: float, cells: int) -> str:
    """The percent used in eighths of a cell, rounded down like the percent shown (and drawn
    from it), so the bar is full only at 100 %."""
    shown = min(100, max(0, whole_percent(percent)))
    eighths = shown * cells * 8 // 100
    full, part = divmod(eighths, 8)
    bar = _FULL * full + _EIGHTHS[part]
    return bar + _EMPTY * (cells - len(bar))


def period_bar(elapsed: float, cells: int) -> str:
    """The part of the period passed, in halves of a cell, rounded down."""
    shown = min(100, max(0, whole_percent(elapsed)))
    halves = shown * cells * 2 // 100
    full, half = divmod(halves, 2)
    bar = _PERIOD_FULL * full + _PERIOD_HALF * half
    return bar + _PERIOD_EMPTY * (cells - len(bar))


def severity_colour(percent: float) -> str:
    """The ANSI colour of the usage, by the alerts' severity rule on the percent shown:
    green under 80 %, yellow from 80 %, red from 100 %."""
    return _COLOURS[threshold_severity(whole_percent(percent))]


def pace_words(outlook: Outlook, when: Callable[[datetime], str]) -> str:
    """The verdict as the period line says it after "pace: "."""
    if outlook.kind == "runs_out":
        return f"runs out {when(outlook.at)}" if outlook.at else "runs out before the reset"
    if outlook.kind == "would_reach" and outlook.percent_at_reset is not None:
        return f"would reach {whole_percent(outlook.percent_at_reset)}% by the reset"
    if outlook.kind == "used_up":
        return "limit reached"
    if outlook.kind == "too_early":
        return "too early to tell"
    return "on track"


def login_words(token: TokenInfo, now: datetime, when: Callable[[datetime], str]) -> str:
    """The login's state: will it keep working unattended, and if not, until when."""
    return " ".join(p.text for p in _login_pieces(token, now, when))


# --- layout ------------------------------------------------------------------------------------


class _Piece(NamedTuple):
    """A part of a row kept whole on one line when it can be; `sep` goes before it unless it
    starts a line."""

    sep: str
    text: str
    sgr: str = ""  # the ANSI colour it is drawn in, when colour is on


class _Row(NamedTuple):
    label: str
    column: int  # where the values start
    pieces: tuple[_Piece, ...]
    has_bar: bool = False  # a bar row: the width is chosen for these


_Segment = tuple[str, str]  # text, ANSI colour ("" for none)


def _rows_for(picture: StatusPicture, width: int) -> list[_Row]:
    """The rows at the richest level of detail whose bar rows each fit on one line; below
    that, bars of 10 to 20 cells and pieces flowing onto lines of their own."""
    for with_in in (True, False):
        for cells in range(MAX_BAR, COMFORTABLE_BAR - 1, -1):
            rows = _rows(picture, cells, with_in)
            if all(_one_line(row) <= width for row in rows if row.has_bar):
                return rows
    for cells in range(COMFORTABLE_BAR, MIN_BAR - 1, -1):
        rows = _rows(picture, cells, with_in=False)
        if all(_one_line(row, pieces=2) <= width for row in rows if row.has_bar):
            return rows
    return _rows(picture, MIN_BAR, with_in=False)


def _one_line(row: _Row, pieces: int | None = None) -> int:
    """The length of the row, or of its first `pieces`, all on one line."""
    kept = row.pieces[:pieces]
    return row.column + sum(len(p.text) for p in kept) + sum(len(p.sep) for p in kept[1:])


def _rows(picture: StatusPicture, cells: int, with_in: bool) -> list[_Row]:
    column = min(MAX_LABEL_COLUMN, max(LABEL_COLUMN, len(picture.meter_label) + 2))
    header: list[_Piece] = [_Piece("", picture.plan or "plan unknown")]
    if picture.who:
        header.append(_Piece(" · ", picture.who))
    title = f"{HEADER} ({picture.account})" if picture.account else HEADER
    rows = [
        _Row(title, len(title) + 2, tuple(header)),
        _Row(picture.meter_label, column, _meter_pieces(picture, cells, with_in), has_bar=True),
    ]
    if picture.elapsed is not None:
        period = [
            _Piece("", f"period {period_bar(picture.elapsed, cells)}"),
            _Piece(" ", f"{whole_percent(picture.elapsed):>3}% elapsed"),
        ]
        over = picture.reset_at is not None and picture.reset_at <= picture.now
        if over:  # no pace to tell: the API has not moved on to the new period yet
            period.append(_Piece(" · ", "the period is over"))
        elif picture.outlook is not None:
            period.append(_Piece(" · ", f"pace: {pace_words(picture.outlook, picture.when)}"))
        rows.append(_Row("", column, tuple(period), has_bar=True))
    rows.append(_Row("Pay as you go", column, (_Piece("", picture.pay_as_you_go),)))
    if picture.token is not None:
        pieces = _login_pieces(picture.token, picture.now, picture.when)
        rows.append(_Row("Login", column, pieces))
    return rows


def _meter_pieces(picture: StatusPicture, cells: int, with_in: bool) -> tuple[_Piece, ...]:
    sgr = severity_colour(picture.percent)
    pieces = [
        _Piece("", usage_bar(picture.percent, cells), sgr),
        _Piece(" ", f"{whole_percent(picture.percent):>3}%", sgr),
    ]
    if picture.used:
        pieces.append(_Piece("  ", picture.used))
    reset_at, now = picture.reset_at, picture.now
    if reset_at is None:
        pieces.append(_Piece("   ", "reset time unknown"))
    elif reset_at <= now:
        # As the plain lines say it: a time that has passed, and how long ago.
        pieces.append(_Piece("   ", f"reset was due {picture.when(reset_at)}"))
        pieces.append(_Piece(" ", f"({format_ago(now - reset_at)})"))
    else:
        pieces.append(_Piece("   ", f"resets {picture.when(reset_at)}"))
        if with_in:
            pieces.append(_Piece(" ", f"(in {picture.span(reset_at - now)})"))
    return tuple(pieces)


def _login_pieces(
    token: TokenInfo, now: datetime, when: Callable[[datetime], str]
) -> tuple[_Piece, ...]:
    expires_at = token.expires_at
    if token.renewable:
        if expires_at is None:
            return (_Piece("", "refreshes itself"),)
        if expires_at > now:
            return (
                _Piece("", "refreshes itself"),
                _Piece(" ", f"(access token valid until {when(expires_at)})"),
            )
        return (
            _Piece("", "refreshes itself"),
            _Piece(" ", f"(access token expired {when(expires_at)}, renewed at the next reading)"),
        )
    if expires_at is None:
        return (_Piece("", "cannot refresh itself;"), _Piece(" ", "run `grok login` if it expires"))
    if expires_at > now:
        return (
            _Piece("", f"expires {when(expires_at)};"),
            _Piece(" ", "run `grok login` before then"),
        )
    return (_Piece("", f"expired {when(expires_at)};"), _Piece(" ", "run `grok login`"))


def _lay_out(row: _Row, width: int) -> list[list[_Segment]]:
    """The row's lines: each piece after the one before while it fits, else on a line of its
    own under the values' column, else at CONTINUATION_INDENT, word-wrapped if even that is
    too narrow. The first piece always starts beside the label."""
    lines: list[list[_Segment]] = [[(_label(row.label, row.column), "")]]
    length = row.column
    # The caller's texts (a plan, an email, its formatted times) must not move the cursor or
    # break a line behind the layout's back.
    printable = (p._replace(text=_printable(p.text)) for p in row.pieces)
    for index, piece in enumerate(p for p in printable if p.text.strip()):
        sep = "" if index == 0 else piece.sep
        if length + len(sep) + _cells(piece.text) <= width:
            lines[-1] += [(sep, ""), (piece.text, piece.sgr)]
            length += len(sep) + _cells(piece.text)
            continue
        text = piece.text.strip()
        if index == 0:
            indent = row.column  # beside the label, wrapped under the values' column
        elif row.column + _cells(text) <= width:
            indent = row.column
        else:
            indent = CONTINUATION_INDENT
        chunks = _wrapped(text, max(2, width - indent))
        for number, chunk in enumerate(chunks):
            if not (index == 0 and number == 0):
                lines.append([(" " * indent, "")])
            lines[-1].append((chunk, piece.sgr))
        length = indent + _cells(chunks[-1])
    return lines


def _cells(text: str) -> int:
    """Columns on a terminal: East Asian wide and full-width characters take two, combining
    marks none (an email in Chinese characters must not wrap an 80-column line)."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _wrapped(text: str, columns: int) -> list[str]:
    """`text` in lines of at most `columns` cells: at spaces where it can, else anywhere."""
    lines: list[str] = []
    for line in textwrap.wrap(text, columns, break_long_words=True, break_on_hyphens=False):
        while _cells(line) > columns:
            cut = 1
            while cut < len(line) and _cells(line[: cut + 1]) <= columns:
                cut += 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines or [""]


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def _label(label: str, column: int) -> str:
    label = _printable(label)
    if len(label) > column - 2:
        label = label[: column - 3] + "…"
    return label.ljust(column)


def _joined(line: list[_Segment], colour: bool) -> str:
    if len(line) == 1:  # a label with nothing beside it
        return line[0][0].rstrip()
    return "".join(f"\x1b[{sgr}m{text}{_RESET}" if colour and sgr else text for text, sgr in line)
