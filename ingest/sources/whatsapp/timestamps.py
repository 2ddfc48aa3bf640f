"""WhatsApp dates and times: date order, header strings to local seconds, local time to UTC.

Header dates and times repeat a lot (a chat has a few hundred distinct days and at most 86,400
distinct times of day), so they are parsed once per distinct string and mapped back by index.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DATE_ORDERS = ("dmy", "mdy", "ymd")
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_YEARS = range(1970, 2101)  # a phone whose clock was reset shows 1970; later ones are no real dates
_DIGITS = re.compile(r"\d+")
_FIXED_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$")
# RE2 (Arrow): the parts of a header time, e.g. "14:05", "2:05:09 PM", "14.05", "2:05 p. m."
_TIME_PARTS_RE = r"^(?P<h>\d{1,2})[:.](?P<m>\d{2})(?:[:.](?P<s>\d{2}))?(?:[ \x{a0}\x{202f}]?(?P<p>[AaPp]))?"


def _fields(date: str) -> tuple[str, str, str]:
    a, b, c = (_DIGITS.findall(date) + ["0", "0", "0"])[:3]  # "" for lines that are no header
    return a, b, c


def infer_date_order(dates: Iterable[str], configured: str | None, twelve_hour: bool) -> tuple[str, str]:
    """(order, how it was chosen) from every distinct header date of a file.

    A four-digit first field means year first; a first field above 12 can only be a day (dmy), a
    second above 12 only a day (mdy). Evidence both ways (a corrupt line) goes to the majority.
    A file that stays ambiguous uses the configured order, else the locale's habit: 12-hour
    clocks come with month first (en-US), 24-hour clocks with day first.
    """
    votes = {"dmy": 0, "mdy": 0, "ymd": 0}
    for date in dates:
        a, b, _ = _fields(date)
        if len(a) == 4:
            votes["ymd"] += 1
        elif int(a) > 12:
            votes["dmy"] += 1
        elif int(b) > 12:
            votes["mdy"] += 1
    best = max(votes, key=votes.get)
    if votes[best]:
        return best, "inferred from the dates"
    if configured:
        return configured, "dates ambiguous, configured order used"
    return ("mdy" if twelve_hour else "dmy"), "dates ambiguous, assumed from the clock style"


def epoch_days(dates: list[str], order: str) -> np.ndarray:
    """Days since 1970-01-01 for each date string, -1 where it is no real date."""
    out = np.full(len(dates), -1, dtype=np.int64)
    for i, date in enumerate(dates):
        a, b, c = map(int, _fields(date))
        y, m, d = (c, b, a) if order == "dmy" else (c, a, b) if order == "mdy" else (a, b, c)
        y += 2000 if y < 100 else 0
        try:
            if y in _YEARS:
                out[i] = dt.date(y, m, d).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            pass
    return out


def seconds_of_day(times: pa.Array) -> np.ndarray:
    """Seconds since midnight for each header time string, -1 where it is not a real time."""
    parts = pc.extract_regex(times, _TIME_PARTS_RE)
    # struct_field, not .field(): a string that is no time has null parts (-1), not "" (0, midnight)
    field = {k: pc.struct_field(parts, k) for k in ("h", "m", "s", "p")}
    ints = {
        k: np.asarray(pc.if_else(pc.equal(field[k], ""), "0", field[k]).cast(pa.int64()).fill_null(-1))
        for k in ("h", "m", "s")
    }
    h, m, s = ints["h"], ints["m"], ints["s"]
    half = np.asarray(pc.utf8_lower(field["p"]).fill_null(""))
    pm, am = half == "p", half == "a"
    twelve = pm | am
    valid = (m < 60) & (s < 60) & (h >= 0) & np.where(twelve, (h >= 1) & (h <= 12), h <= 23)
    h = np.where(twelve, h % 12 + np.where(pm, 12, 0), h)
    return np.where(valid, h * 3600 + m * 60 + s, -1)


class LocalClock:
    """Converts naive local epoch seconds to UTC with a fixed offset or an IANA zone (DST-aware).

    Offsets are looked up once per local midnight; only days whose offset differs at the next
    midnight (DST switches) are converted message by message, where the repeated autumn hour is
    resolved by message order: once the time goes backwards that day, readings are the second.
    """

    def __init__(self, zone: str | None):
        self.name = zone or "UTC"
        fixed = _FIXED_OFFSET_RE.match(self.name)
        if fixed or self.name.upper() in ("UTC", "GMT", "Z"):
            sign, hours, minutes = fixed.groups() if fixed else ("+", "0", None)
            self._fixed = (1 if sign == "+" else -1) * (int(hours) * 3600 + int(minutes or 0) * 60)
            self._zone = None
        else:
            try:
                self._fixed, self._zone = None, zoneinfo.ZoneInfo(self.name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {self.name!r}") from None
        self._midnights: dict[int, int] = {}  # UTC offset at each local midnight seen

    def to_utc(self, local: np.ndarray) -> np.ndarray:
        if self._zone is None:
            return local - self._fixed
        if not len(local):
            return local.copy()
        days = local // 86400
        first = int(days.min())
        span = days - first
        offsets, switching = np.zeros(int(span.max()) + 1, np.int64), np.zeros(int(span.max()) + 1, bool)
        for day in np.flatnonzero(np.bincount(span)).tolist():
            offsets[day], switching[day] = self._day(first + day)
        utc = local - offsets[span]
        rows = np.flatnonzero(switching[span])
        if len(rows):
            utc[rows] = self._switch_day(local[rows].tolist())
        return utc

    def _day(self, day: int) -> tuple[int, bool]:
        """(offset at the day's midnight, whether it differs at the next midnight)."""
        offset = self._midnight(day)
        return offset, offset != self._midnight(day + 1)

    def _midnight(self, day: int) -> int:
        if day not in self._midnights:
            self._midnights[day] = self._offset(day * 86400, 0)
        return self._midnights[day]

    def _offset(self, local: int, fold: int) -> int:
        naive = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=local)
        return int(naive.replace(tzinfo=self._zone, fold=fold).utcoffset().total_seconds())

    def _switch_day(self, local: list[int]) -> list[int]:
        latest: dict[int, int] = {}  # per day, the latest local time seen so far
        went_back: set[int] = set()  # days on which the clock has been seen going back
        out = []
        for t in local:
            day = t // 86400
            if t < latest.get(day, t):
                went_back.add(day)
            latest[day] = max(t, latest.get(day, t))
            out.append(t - self._offset(t, 1 if day in went_back else 0))
        return out
