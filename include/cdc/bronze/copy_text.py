"""Values as COPY's text format spells them in the bronze load's rows (``prepare.py``)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache


def copy_field(text: str) -> str:
    """Escape a value for COPY's text format (JSON text rarely needs more than the backslashes)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text or "\r" in text or "\t" in text:
        text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return text


@lru_cache(maxsize=4096)
def _copy_date(days: int) -> str:
    """The date ``days`` after 1970-01-01, any year (``date`` stops at 9999; the calendar repeats every
    400 years, 146,097 days); a year before 1 as PostgreSQL writes it (0 is 1 BC)."""
    cycles, day = divmod(days + date(1970, 1, 1).toordinal() - 1, 146_097)
    in_cycle = date.fromordinal(day + 1)
    year = in_cycle.year + 400 * cycles
    era = "" if year > 0 else " BC"
    return f"{year if year > 0 else 1 - year:04d}-{in_cycle.month:02d}-{in_cycle.day:02d}{era}"


@lru_cache(maxsize=4096)  # records of one object mostly share a handful of producer timestamps
def copy_timestamp(ms: int | None) -> str:
    """Kafka's epoch milliseconds as timestamptz text in UTC: the instant ``to_timestamp(ms / 1000.0)``
    gave, computed from integers (no float, no time zone of the session)."""
    if ms is None:
        return "\\N"
    days, ms = divmod(ms, 86_400_000)
    seconds, ms = divmod(ms, 1000)
    clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{ms:03d}"
    return f"{_copy_date(days)} {clock}+00"
