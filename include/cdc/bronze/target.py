"""What one captured table's load reads and writes (BronzeTarget), and what loading counted."""

from __future__ import annotations

from dataclasses import dataclass, field

from include.cdc.contract import SourceTable


@dataclass(frozen=True)
class BronzeTarget:
    """Where one captured table's objects come from and go to."""

    table: SourceTable
    topic: str
    raw_prefix: str
    quarantine_prefix: str

    @property
    def bronze_table(self) -> str:
        return f"bronze.{self.table.bronze_table}"


@dataclass
class Counts:
    objects: int = 0
    records: int = 0
    rows_loaded: int = 0
    duplicates_skipped: int = 0
    tombstones: int = 0
    quarantined: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class LoadSummary:
    tables: dict[str, Counts] = field(default_factory=dict)

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.tables.values():
            total.add(counts)
        return total

    def to_xcom(self) -> dict:
        return {"total": self.total.__dict__, "tables": {t: c.__dict__ for t, c in self.tables.items()}}
