"""Months, delivery periods and due dates: the calendar arithmetic every request and board shares.

Periods are identified by their first month as ``YYYY-MM`` whatever the cadence, because that is the name of
the landing folder an agency delivers into and of the ``period`` column of ``requests.csv``; one spelling
everywhere means a quarterly delivery can never be filed under a label the board does not recognise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
CADENCE_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "yearly": 12}
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; ordered, so periods and cycles compare without string tricks."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """Read ``YYYY-MM``; anything else (``2021-4``, ``2021-04-01``) is refused, not guessed."""
        match = MONTH_RE.match(str(text).strip())
        if not match:
            raise ValueError(f"must be a month written YYYY-MM, got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def index(self) -> int:
        """Months since year 0, so differences between months are plain subtraction."""
        return self.year * 12 + self.month - 1

    def plus(self, months: int) -> Month:
        i = self.index + months
        return Month(i // 12, i % 12 + 1)

    @property
    def name(self) -> str:
        """``April 2021``: how a data officer writes a month."""
        return f"{_MONTH_NAMES[self.month - 1]} {self.year}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Period:
    """The months one delivery covers, ``start`` to ``end`` inclusive."""

    start: Month
    end: Month

    @property
    def key(self) -> str:
        """``YYYY-MM`` of the first month: the landing folder name and the CSV ``period`` value."""
        return str(self.start)

    @property
    def label(self) -> str:
        """Plain English: ``April 2021``, ``April to June 2021`` or ``April 2021 to March 2022``."""
        if self.start == self.end:
            return self.start.name
        if self.start.year == self.end.year:
            return f"{_MONTH_NAMES[self.start.month - 1]} to {self.end.name}"
        return f"{self.start.name} to {self.end.name}"

    def due_date(self, due_day: int) -> date:
        """Deliveries fall due on ``due_day`` of the month after the period ends (1-28 exists every month)."""
        after = self.end.plus(1)
        return date(after.year, after.month, due_day)


def periods(start: Month, months: int, cadence: str) -> list[Period]:
    """The consecutive periods of a cadence that tile ``months`` months from ``start``.

    Plan validation guarantees ``months`` is a multiple of the cadence, so the last period is never cut short.
    """
    step = CADENCE_MONTHS[cadence]
    return [Period(start.plus(i), start.plus(i + step - 1)) for i in range(0, months, step)]
