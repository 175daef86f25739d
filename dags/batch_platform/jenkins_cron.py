"""Jenkins cron specs with Jenkins' exact semantics: parsing, the ``H`` hash, matching and next fire times.

This module owns everything about the *meaning* of a Jenkins ``TimerTrigger`` spec, so that a job
migrated from Jenkins keeps its run times to the minute:

* ``H`` is resolved the way Jenkins does it: MD5 of the job's full name (folders included), folded to a
  64-bit seed for ``java.util.Random``; every ``H`` draws ``nextInt(range)`` left to right, field by
  field, line by line (one generator for the whole spec, so a second line's ``H`` differs from the
  first's). The behaviour mirrors ``hudson.scheduler.Hash``, ``BaseParser`` and ``CrontabParser.g4``.
* A spec is several lines, ORed; blank lines and ``#`` comments are ignored; ``TZ=`` is honoured on the
  first line only and applies to every line.
* Within a line every field must match, day-of-month AND day-of-week (Jenkins ``CronTab.check``),
  unlike standard cron which ORs the two day fields when both are restricted.
* Day-of-week 7 is Sunday, like 0.
* Jenkins fires when the wall-clock minute in the spec's zone matches. So around DST changes a local
  time that does not exist never fires and a repeated local time fires twice; the functions here
  reproduce that.

It has no Airflow dependency: the converter, the DAG factory and the timetable all build on it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Field order and bounds (inclusive), as in Jenkins' BaseParser.
FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
LOWER_BOUNDS = (0, 0, 1, 1, 0)
UPPER_BOUNDS = (59, 23, 31, 12, 7)
# Upper bounds for a bare ``H``: day-of-month 28 so that it exists in every month, day-of-week 6
# because 0 and 7 are both Sunday.
HASH_UPPER_BOUNDS = (59, 23, 28, 12, 6)

# What the ``@`` aliases expand to (CrontabParser.g4); the expansion is hashed with the same generator.
ALIASES = {
    "yearly": "H H H H *",
    "annually": "H H H H *",
    "monthly": "H H H * *",
    "weekly": "H H * * H",
    "daily": "H H * * *",
    "midnight": "H H(0-2) * * *",
    "hourly": "H * * * *",
}

# How far ahead to look for the next fire time. Jenkins itself accepts specs that rarely or never fire
# (``0 0 29 2 1``: Feb 29th on a Monday, every 28 years or so; ``0 0 30 2 *``: never).
SEARCH_HORIZON_YEARS = 30
# More than any zone's DST shift: how far wall-clock order and instant order can disagree.
_DST_SLACK = timedelta(hours=3)

_MASK48 = (1 << 48) - 1
_MULTIPLIER = 0x5DEECE66D
_ADDEND = 0xB


class CronSpecError(ValueError):
    """An invalid Jenkins cron spec; the message names the line, the column and the offending token."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None, token: str | None = None):
        self.reason = message
        self.line = line
        self.column = column
        self.token = token
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "") + ": "
        super().__init__(where + message + (f" (token {token!r})" if token is not None else ""))


class JavaRandom:
    """``java.util.Random``: the 48-bit linear congruential generator, bit for bit."""

    def __init__(self, seed: int):
        self._seed = (seed ^ _MULTIPLIER) & _MASK48

    def next_bits(self, bits: int) -> int:
        self._seed = (self._seed * _MULTIPLIER + _ADDEND) & _MASK48
        value = self._seed >> (48 - bits)
        # Java returns the low 32 bits as a signed int.
        value &= 0xFFFFFFFF
        return value - (1 << 32) if value >= (1 << 31) else value

    def next_int(self, bound: int) -> int:
        if bound <= 0:
            raise ValueError("bound must be positive")
        r = self.next_bits(31)
        m = bound - 1
        if bound & m == 0:  # a power of two: take the high bits
            return (bound * r) >> 31
        u = r
        r = u % bound
        # Reject values from the incomplete last block; in Java `u - r + m` overflows to negative.
        while u - r + m >= (1 << 31):
            u = self.next_bits(31)
            r = u % bound
        return r


class Hash:
    """The source of ``H`` values: ``hudson.scheduler.Hash.from(seed)`` or the all-zero hash."""

    def __init__(self, random: JavaRandom | None):
        self._random = random

    @classmethod
    def from_seed(cls, seed: str) -> Hash:
        digest = bytearray(hashlib.md5(seed.encode("utf-8")).digest())
        for i in range(8, len(digest)):
            digest[i % 8] ^= digest[i]
        value = int.from_bytes(digest[:8], "big")
        return cls(JavaRandom(value))

    @classmethod
    def zero(cls) -> Hash:
        return cls(None)

    def next(self, n: int) -> int:
        """A value in [0, n)."""
        return 0 if self._random is None else self._random.next_int(n)


@dataclass(frozen=True)
class CronLine:
    """One resolved line: the set of allowed values per field (day-of-week 7 already folded into 0)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    source: str
    line_number: int

    def matches(self, wall: datetime) -> bool:
        """Jenkins' ``CronTab.check``: every field matches the wall-clock time (no OR of the day fields)."""
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.day in self.days_of_month
            and wall.month in self.months
            and (wall.isoweekday() % 7) in self.days_of_week
        )

    @property
    def day_of_month_restricted(self) -> bool:
        return self.days_of_month != frozenset(range(1, 32))

    @property
    def day_of_week_restricted(self) -> bool:
        return self.days_of_week != frozenset(range(0, 7))

    def to_cron(self) -> str:
        """The resolved line in standard 5-field cron syntax (no ``H``); full fields are written ``*``."""
        return " ".join(
            _render_field(values, low, high)
            for values, low, high in (
                (self.minutes, 0, 59),
                (self.hours, 0, 23),
                (self.days_of_month, 1, 31),
                (self.months, 1, 12),
                (self.days_of_week, 0, 6),
            )
        )

    def next_wall_time(self, start: datetime, limit: datetime) -> datetime | None:
        """The first naive wall-clock minute >= ``start`` that matches, or None before ``limit``."""
        t = start.replace(second=0, microsecond=0)
        if t < start:
            t += timedelta(minutes=1)
        while t < limit:
            if t.month not in self.months:
                t = _first_of_next_month(t)
                continue
            if t.day not in self.days_of_month or (t.isoweekday() % 7) not in self.days_of_week:
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                later = [h for h in self.hours if h > t.hour]
                if later:
                    t = t.replace(hour=min(later), minute=0)
                else:
                    t = datetime(t.year, t.month, t.day) + timedelta(days=1)
                continue
            if t.minute not in self.minutes:
                later = [m for m in self.minutes if m > t.minute]
                if later:
                    t = t.replace(minute=min(later))
                else:
                    t = t.replace(minute=0) + timedelta(hours=1)
                continue
            return t
        return None

    def previous_wall_time(self, start: datetime, limit: datetime) -> datetime | None:
        """The last naive wall-clock minute <= ``start`` that matches, or None after going past ``limit``."""
        t = start.replace(second=0, microsecond=0)
        minute = timedelta(minutes=1)
        while t >= limit:
            if t.month not in self.months:
                t = datetime(t.year, t.month, 1) - minute
                continue
            if t.day not in self.days_of_month or (t.isoweekday() % 7) not in self.days_of_week:
                t = datetime(t.year, t.month, t.day) - minute
                continue
            if t.hour not in self.hours:
                earlier = [h for h in self.hours if h < t.hour]
                if earlier:
                    t = t.replace(hour=max(earlier), minute=59)
                else:
                    t = datetime(t.year, t.month, t.day) - minute
                continue
            if t.minute not in self.minutes:
                earlier = [m for m in self.minutes if m < t.minute]
                if earlier:
                    t = t.replace(minute=max(earlier))
                else:
                    t = t.replace(minute=0) - minute
                continue
            return t
        return None


@dataclass(frozen=True)
class CronSpec:
    """A whole Jenkins spec: its lines (ORed) and the zone they are read in."""

    lines: tuple[CronLine, ...]
    timezone: str
    timezone_from_spec: bool

    @property
    def zone(self) -> tzinfo:
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)

    def matches(self, instant: datetime) -> bool:
        wall = instant.astimezone(self.zone).replace(tzinfo=None)
        return any(line.matches(wall) for line in self.lines)

    def next_fire_time(self, after: datetime, *, inclusive: bool = False) -> datetime | None:
        """The first instant (aware, UTC) strictly after ``after`` (or at it, if ``inclusive``) that fires.

        Jenkins checks every minute whether the wall-clock time in the spec's zone matches; this finds
        the same minutes without scanning them one by one.
        """
        threshold = _utc_minute(after)
        if threshold < after or not inclusive:
            threshold += timedelta(minutes=1)
        return self._search(threshold, forward=True)

    def previous_fire_time(self, before: datetime) -> datetime | None:
        """The last instant at or before ``before`` that fires (used to align catchup=False runs)."""
        return self._search(_utc_minute(before), forward=False)

    def fire_times(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` fire times after ``after`` (for reports and tests)."""
        result: list[datetime] = []
        current = after
        for _ in range(count):
            nxt = self.next_fire_time(current)
            if nxt is None:
                break
            result.append(nxt)
            current = nxt
        return result

    def _search(self, threshold: datetime, *, forward: bool) -> datetime | None:
        """The nearest firing instant at/after (forward) or at/before (backward) ``threshold``.

        The search runs over wall-clock minutes in the spec's zone. Around a DST change wall-clock
        order and instant order differ (a repeated hour, a skipped hour), so in a zone with DST the
        search starts a few hours of wall time early and keeps the best instant found within a few
        hours of wall time after the first hit.
        """
        zone = self.zone
        slack = timedelta(0) if self.timezone == "UTC" else _DST_SLACK
        wall_threshold = threshold.astimezone(zone).replace(tzinfo=None)
        years = SEARCH_HORIZON_YEARS if forward else -SEARCH_HORIZON_YEARS
        horizon = wall_threshold.replace(year=wall_threshold.year + years, day=1)
        step = timedelta(minutes=1) if forward else -timedelta(minutes=1)
        best: datetime | None = None
        best_wall: datetime | None = None
        for line in self.lines:
            wall = wall_threshold - slack if forward else wall_threshold + slack
            while True:
                if forward:
                    wall = line.next_wall_time(wall, horizon)
                else:
                    wall = line.previous_wall_time(wall, horizon)
                if wall is None:
                    break
                if best_wall is not None and (wall > best_wall + slack if forward else wall < best_wall - slack):
                    break
                for instant in _instants_of_wall_time(wall, zone):
                    if (instant >= threshold) if forward else (instant <= threshold):
                        if best is None or (instant < best if forward else instant > best):
                            best, best_wall = instant, wall
                wall += step
        return best

    def single_standard_cron(self) -> str | None:
        """A plain cron string with the same meaning, if there is one; else None.

        Only a single UTC line qualifies, and only when day-of-month and day-of-week are not both
        restricted: standard cron would OR them where Jenkins ANDs them. Outside UTC the zone's DST
        rules make Jenkins' wall-clock semantics differ from Airflow's cron timetables.
        """
        if len(self.lines) != 1 or self.timezone != "UTC":
            return None
        line = self.lines[0]
        if line.day_of_month_restricted and line.day_of_week_restricted:
            return None
        return line.to_cron()


def validate_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA zone name, else raise CronSpecError."""
    if name == "UTC":
        return name
    if not name or name.startswith("/") or ".." in name:
        raise CronSpecError(f"invalid or unsupported timezone {name!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronSpecError(f"invalid or unsupported timezone {name!r}") from exc
    return name


def parse_spec(spec: str, *, seed: str | None, default_timezone: str = "UTC") -> CronSpec:
    """Parse a Jenkins cron spec (possibly several lines) the way ``CronTabList.create`` does.

    ``seed`` is the job's full name (``folder/sub/job``) that Jenkins hashes for ``H``; None means
    Jenkins' zero hash (every ``H`` picks the lowest value). ``default_timezone`` is the Jenkins
    controller's zone, used unless the first line is ``TZ=...``.
    """
    hash_ = Hash.from_seed(seed) if seed is not None else Hash.zero()
    timezone = validate_timezone(default_timezone)
    from_spec = False
    lines: list[CronLine] = []
    for number, raw in enumerate(re.split(r"\r?\n", spec), start=1):
        text = raw.strip()
        if number == 1 and text.startswith("TZ="):
            name = text.replace("TZ=", "")
            try:
                timezone = validate_timezone(name)
            except CronSpecError as exc:
                raise CronSpecError(exc.reason, line=number, column=4, token=name) from None
            from_spec = True
            continue
        if not text or text.startswith("#"):
            continue
        lines.append(_LineParser(text, number, hash_).parse())
    return CronSpec(lines=tuple(lines), timezone=timezone, timezone_from_spec=from_spec)


# --- parsing -------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[0-9]+|[ \t]+|[-*/,@()]|H|[a-z]+")


@dataclass
class _Token:
    kind: str  # NUM, WS, SYM, H, WORD
    text: str
    column: int


class _LineParser:
    """Recursive descent over CrontabParser.g4; hashes are drawn in the order Jenkins draws them."""

    def __init__(self, text: str, line_number: int, hash_: Hash):
        self.text = text
        self.line_number = line_number
        self.hash = hash_
        self.tokens = self._tokenize(text)
        self.pos = 0

    def _error(self, message: str, token: _Token | None) -> CronSpecError:
        if token is None:
            return CronSpecError(message, line=self.line_number, column=len(self.text) + 1, token=None)
        return CronSpecError(message, line=self.line_number, column=token.column, token=token.text)

    def _tokenize(self, text: str) -> list[_Token]:
        tokens = []
        pos = 0
        while pos < len(text):
            match = _TOKEN_RE.match(text, pos)
            if match is None:
                raise CronSpecError("unexpected character", line=self.line_number, column=pos + 1, token=text[pos])
            value = match.group()
            if value[0].isdigit():
                kind = "NUM"
            elif value[0] in " \t":
                kind = "WS"
            elif value == "H":
                kind = "H"
            elif value[0].isalpha():
                kind = "WORD"
            else:
                kind = "SYM"
            tokens.append(_Token(kind, value, pos + 1))  # 1-based, for humans
            pos = match.end()
        return tokens

    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> _Token | None:
        token = self._peek()
        if token is not None:
            self.pos += 1
        return token

    def _next_non_blank(self) -> _Token | None:
        return next((t for t in self.tokens[self.pos:] if t.kind != "WS"), None)

    def _expect_sym(self, symbol: str) -> _Token:
        token = self._take()
        if token is None or token.text != symbol:
            raise self._error(f"expected {symbol!r}", token)
        return token

    def _number(self, field: int) -> tuple[int, _Token]:
        token = self._take()
        if token is None or token.kind != "NUM":
            raise self._error(f"expected a number in the {FIELD_NAMES[field]} field", token)
        return int(token.text), token

    def parse(self) -> CronLine:
        first = self._peek()
        if first is not None and first.text == "@":
            self._take()
            word = self._take()
            if word is None or word.kind != "WORD" or word.text not in ALIASES:
                raise self._error(f"unknown alias; expected one of {', '.join('@' + a for a in ALIASES)}", word)
            rest = self._next_non_blank()
            if rest is not None:
                raise self._error("unexpected text after the alias", rest)
            # Jenkins re-parses the expansion with the same hash, so draws continue in sequence.
            expanded = _LineParser(ALIASES[word.text], self.line_number, self.hash)
            line = expanded.parse()
            return CronLine(
                line.minutes, line.hours, line.days_of_month, line.months, line.days_of_week,
                source=self.text, line_number=self.line_number,
            )
        fields: list[set[int]] = []
        for field in range(5):
            if field > 0:
                token = self._take()
                if token is None or token.kind != "WS":
                    raise self._error(
                        f"expected 5 fields separated by spaces, the {FIELD_NAMES[field]} field is missing", token
                    )
            fields.append(self._expr(field))
        extra = self._next_non_blank()
        if extra is not None:
            raise self._error("unexpected text after the 5 fields", extra)
        dow = fields[4]
        if 7 in dow:  # both 0 and 7 are Sunday
            dow = (dow - {7}) | {0}
        return CronLine(
            frozenset(fields[0]), frozenset(fields[1]), frozenset(fields[2]), frozenset(fields[3]),
            frozenset(dow), source=self.text, line_number=self.line_number,
        )

    def _expr(self, field: int) -> set[int]:
        values = self._term(field)
        while (token := self._peek()) is not None and token.text == ",":
            self._take()
            values |= self._term(field)
        return values

    def _step(self, field: int) -> tuple[int, _Token | None]:
        token = self._peek()
        if token is not None and token.text == "/":
            self._take()
            return self._number(field)
        return 1, None

    def _term(self, field: int) -> set[int]:
        token = self._peek()
        if token is None:
            raise self._error(f"the {FIELD_NAMES[field]} field is empty", None)
        if token.kind == "NUM":
            start, start_token = self._number(field)
            nxt = self._peek()
            if nxt is not None and nxt.text == "-":
                self._take()
                end, end_token = self._number(field)
                step, step_token = self._step(field)
                return self._range(start, end, step, field, start_token, end_token, step_token)
            self._check(start, field, start_token)
            return {start}
        if token.text == "*":
            self._take()
            step, step_token = self._step(field)
            return self._range(
                LOWER_BOUNDS[field], UPPER_BOUNDS[field], step, field, token, token, step_token
            )
        if token.kind == "H":
            self._take()
            nxt = self._peek()
            if nxt is not None and nxt.text == "(":
                self._take()
                start, start_token = self._number(field)
                self._expect_sym("-")
                end, end_token = self._number(field)
                self._expect_sym(")")
                step, step_token = self._step(field)
                return self._hash(start, end, step, field, start_token, end_token, step_token)
            step, step_token = self._step(field)
            return self._hash(
                LOWER_BOUNDS[field], HASH_UPPER_BOUNDS[field], step, field, token, token, step_token
            )
        raise self._error(f"unexpected token in the {FIELD_NAMES[field]} field", token)

    def _check(self, value: int, field: int, token: _Token) -> None:
        low, high = LOWER_BOUNDS[field], UPPER_BOUNDS[field]
        if value < low or value > high:
            raise self._error(
                f"{value} is an invalid value for the {FIELD_NAMES[field]} field, must be within {low} and {high}",
                token,
            )

    def _range(self, start, end, step, field, start_token, end_token, step_token) -> set[int]:
        self._check(start, field, start_token)
        self._check(end, field, end_token)
        if step <= 0:
            raise self._error(f"step must be positive, got {step}", step_token)
        if start > end:
            raise self._error(f"range start {start} is after its end {end}", start_token)
        return set(range(start, end + 1, step))

    def _hash(self, start, end, step, field, start_token, end_token, step_token) -> set[int]:
        self._check(start, field, start_token)
        self._check(end, field, end_token)
        if step > end - start + 1:
            raise self._error(f"step {step} is out of range, must be within 1 and {end - start + 1}", step_token)
        if step > 1:
            first = self.hash.next(step) + start
            return set(range(first, end + 1, step))
        if step <= 0:
            raise self._error(f"step must be positive, got {step}", step_token)
        # A bare H (or H/1) picks one value, not every value.
        return {start + self.hash.next(end + 1 - start)}


# --- helpers -------------------------------------------------------------------------------------


def _render_field(values: frozenset[int], low: int, high: int) -> str:
    if values == frozenset(range(low, high + 1)):
        return "*"
    ordered = sorted(values)
    parts: list[str] = []
    run_start = previous = ordered[0]
    for value in ordered[1:] + [None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        parts.append(str(run_start) if run_start == previous else f"{run_start}-{previous}")
        if value is not None:
            run_start = previous = value
    return ",".join(parts)


def _utc_minute(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _first_of_next_month(t: datetime) -> datetime:
    if t.month == 12:
        return datetime(t.year + 1, 1, 1)
    return datetime(t.year, t.month + 1, 1)


def _instants_of_wall_time(wall: datetime, zone: tzinfo) -> list[datetime]:
    """The UTC instants whose wall-clock minute in ``zone`` is ``wall``: none in a DST gap, two in a fold."""
    instants = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in instants:
            instants.append(instant)
    return sorted(instants)
