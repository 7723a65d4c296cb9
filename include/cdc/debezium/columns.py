"""Which columns a table's change events carry, compared with the contract: what schema drift is made of.

Cheap enough for the bronze load's hot path. A column the contract does not know can only be in an
image the fast path did not decode into the contract's struct (``envelope.py`` then hands over a dict of
every column the image carries), so the common event costs no look at its column names; and a contract
column is looked for only until one image of the object carried it, so an object whose events carry
every contract column pays a few attribute reads in its first event.

A column counts as missing only from events that have an ``after`` image: a delete's ``after`` is null,
and its ``before`` may hold the key alone.
"""

from __future__ import annotations

from msgspec import UNSET

from include.cdc.contract import SourceTable
from include.cdc.debezium.envelope import ChangeEvent

NEW_COLUMN = "new_column"  # the source sends a column the contract does not know
MISSING_COLUMN = "missing_column"  # a contract column no event carried
TYPE_CHANGE = "type_change"  # a value the contract's type cannot hold (the record is quarantined)


class Sighting:
    """Where one kind of drift of one column showed in an object: first and last offset, how many events,
    and the reason of the last one (for a type change)."""

    __slots__ = ("events", "first", "last", "reason")

    def __init__(self, offset: int, reason: str | None = None) -> None:
        self.first = self.last = offset
        self.events = 1
        self.reason = reason

    def add(self, offset: int, reason: str | None = None) -> None:
        self.last = offset
        self.events += 1
        self.reason = reason


class ColumnsSeen:
    """The columns the events of one object of ``table`` carried, fed one event at a time."""

    def __init__(self, table: SourceTable) -> None:
        self.contract = frozenset(c.source_column for c in table.columns)
        self.unseen = set(self.contract)  # contract columns no image carried yet
        self.full_images: Sighting | None = None  # events with an after image: they can lack a column
        self.new: dict[str, Sighting] = {}
        self.wrong_type: dict[str, Sighting] = {}

    def add(self, offset: int, event: ChangeEvent) -> None:
        after, before = event.after, event.before
        if after is not None:
            if self.full_images is None:
                self.full_images = Sighting(offset)
            else:
                self.full_images.add(offset)
        if type(after) is dict or type(before) is dict:  # then neither is a struct
            carried = set(after or ()).union(before or ())
            for name in carried - self.contract:
                _sighted(self.new, name, offset)
            self.unseen.difference_update(carried)
        elif self.unseen:
            for image in (after, before):
                if image is not None:
                    self.unseen = {name for name in self.unseen if getattr(image, name) is UNSET}

    def quarantined(self, offset: int, column: str, reason: str) -> None:
        """A record quarantined because ``column`` held what its contract type cannot."""
        _sighted(self.wrong_type, column, offset, reason)

    @property
    def present(self) -> frozenset[str]:
        """Contract columns that at least one image carried."""
        return self.contract - self.unseen


def _sighted(sightings: dict[str, Sighting], name: str, offset: int, reason: str | None = None) -> None:
    sighting = sightings.get(name)
    if sighting is None:
        sightings[name] = Sighting(offset, reason)
    else:
        sighting.add(offset, reason)
