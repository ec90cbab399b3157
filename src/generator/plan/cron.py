"""Cron expressions for custom workers' QStash schedules: parsed, checked, and counted.

QStash schedules take a standard five-field cron line in UTC (minute, hour, day of month, month, day of
week). Each field is a comma-separated list of `*`, `N`, `N-M`, each optionally followed by `/STEP`; months and
days of the week may be named (JAN-DEC, SUN-SAT), and day of week 7 is Sunday as 0 is. As in Vixie cron
(crontab(5)), when both day fields are restricted (neither starts with `*`) a day matches if either does.

The plan prices a schedule by its runs a month: the exact average over the Gregorian calendar's 400-year
cycle (146,097 days, which repeats weekdays and leap years exactly), scaled to the plan's 730-hour month.
"""

from __future__ import annotations

import calendar
import itertools
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

# The plan's month (sizing prices everything per 730 hours).
HOURS_PER_MONTH = 730
MINUTES_PER_DAY = 1440
GREGORIAN_CYCLE_YEARS = 400
GREGORIAN_CYCLE_DAYS = 146_097
CRON_SYNTAX = (
    "5 fields in UTC: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or JAN-DEC) "
    "day-of-week (0-7 or SUN-SAT), each *, N, N-M or a comma list, optionally /STEP; e.g. 0 8 * * *"
)
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)


class CronError(ValueError):
    """A cron line that is not valid: the message says which field and why."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def day_matches(self, day: int, weekday: int) -> bool:
        if self.days_restricted and self.weekdays_restricted:
            return day in self.days or weekday in self.weekdays
        return day in self.days and weekday in self.weekdays

    def runs_per_day(self) -> int:
        """Runs on a day that matches (every minute listed of every hour listed)."""
        return len(self.minutes) * len(self.hours)

    def shortest_gap_minutes(self) -> int:
        """The shortest time between two runs: within a day, and from a day's last run to the next day's first
        (a lower bound when the next run is days later)."""
        times = sorted(h * 60 + m for h in self.hours for m in self.minutes)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        gaps.append(times[0] + MINUTES_PER_DAY - times[-1])
        return min(gaps)


def parse_cron(expression: str) -> Cron:
    """The schedule `expression` describes; CronError names the field that is wrong."""
    fields = expression.split()
    if len(fields) != len(_FIELDS):
        raise CronError(f"{expression!r} has {len(fields)} field{'s' * (len(fields) != 1)}, a cron line has 5")
    values = [_field(text, *spec) for text, spec in zip(fields, _FIELDS, strict=True)]
    cron = Cron(
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=frozenset(d % 7 for d in values[4]),  # 7 is Sunday too
        days_restricted=not fields[2].startswith("*"),
        weekdays_restricted=not fields[4].startswith("*"),
    )
    if not matching_days_per_cycle(cron):
        raise CronError(f"{expression!r} never fires (no calendar day matches its day and month fields)")
    return cron


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> frozenset[int]:
    found: set[int] = set()
    for part in text.split(","):
        span, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"{name} {part!r}: the step after / must be a whole number of at least 1")
            step = int(step_text)
        if span == "*":
            start, end = low, high
        else:
            first, dash, last = span.partition("-")
            start = _value(first, name, low, high, names, part)
            # `N/STEP` runs from N to the field's end, as in Vixie cron.
            end = _value(last, name, low, high, names, part) if dash else (high if slash else start)
            if end < start:
                raise CronError(f"{name} {part!r}: a range must go from low to high")
        found.update(range(start, end + 1, step))
    return frozenset(found)


def _value(text: str, name: str, low: int, high: int, names: tuple[str, ...], part: str) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + low
    if not text.isdigit() or not low <= int(text) <= high:
        raise CronError(f"{name} {part!r}: {text!r} is not a number from {low} to {high}")
    return int(text)


@lru_cache(maxsize=256)
def matching_days_per_cycle(cron: Cron) -> int:
    """The days of the 400-year Gregorian cycle on which the schedule fires."""
    count = 0
    for year in range(2000, 2000 + GREGORIAN_CYCLE_YEARS):
        for month in sorted(cron.months):
            first_weekday, length = calendar.monthrange(year, month)  # Monday = 0
            for day in range(1, length + 1):
                if cron.day_matches(day, (first_weekday + day) % 7):  # Sunday = 0: Monday the 1st -> 1
                    count += 1
    return count


def runs_per_month(cron: Cron) -> Fraction:
    """Runs in the plan's 730-hour month: the exact average over the Gregorian cycle."""
    per_day = Fraction(matching_days_per_cycle(cron) * cron.runs_per_day(), GREGORIAN_CYCLE_DAYS)
    return per_day * Fraction(HOURS_PER_MONTH, 24)
