"""The source contract: which SQL Server tables are captured, their columns and types.

The contract lives in the dbt staging models' property files (``include/dbt/models/staging/*.yml``),
so the staging SQL, the dbt docs and this module read one definition. A staging model takes part
when its ``config.meta.cdc_source`` names the source table; each captured column carries
``meta.source_column`` and ``meta.sqlserver_type`` (a mapping: ``SqlServerType``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

from include.cdc.errors import ConfigurationError

STAGING_MODELS_DIR = Path(__file__).resolve().parents[1] / "dbt" / "models" / "staging"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # names that become SQL identifiers

INTEGER_TYPES = frozenset({"bigint", "int", "smallint", "tinyint"})
DECIMAL_TYPES = frozenset({"decimal", "numeric", "money", "smallmoney"})
FLOAT_TYPES = frozenset({"real", "float"})
STRING_TYPES = frozenset({"char", "varchar", "nchar", "nvarchar", "text", "ntext"})
TEMPORAL_TYPES = frozenset({"date", "datetime", "smalldatetime", "datetime2", "datetimeoffset"})
KNOWN_TYPES = (
    INTEGER_TYPES | DECIMAL_TYPES | FLOAT_TYPES | STRING_TYPES | TEMPORAL_TYPES | {"bit", "uniqueidentifier"}
)
# The parameters each type's mapping in the contract holds (the others hold none): all of them, so that
# the dbt macro reads every cast's precision and scale from the contract and knows no defaults.
_PARAMETERS = {
    **dict.fromkeys(DECIMAL_TYPES, ("precision", "scale")),
    **dict.fromkeys(STRING_TYPES - {"text", "ntext"}, ("length",)),
    "datetime2": ("precision",),
}
FIXED_DECIMALS = {"money": (19, 4), "smallmoney": (10, 4)}  # SQL Server's, as (precision, scale)
_EXAMPLE = "{type: decimal, precision: 18, scale: 2}"


class ContractError(ConfigurationError):
    """The contract file cannot be read as a contract."""


@dataclass(frozen=True)
class SqlServerType:
    """A SQL Server column type, as the contract writes it: ``meta.sqlserver_type`` is a mapping of the
    type's name (``type``) and the parameters that say how Debezium encodes it, e.g.
    ``{type: decimal, precision: 10, scale: 3}``, ``{type: nvarchar, length: 200}``. dbt's decoding macro
    (include/dbt/macros/debezium_decode.sql) reads the same fields; neither side parses type text."""

    name: str
    length: int | Literal["max"] | None = None
    precision: int | None = None
    scale: int | None = None

    @classmethod
    def from_contract(cls, spec: object) -> SqlServerType:
        """The type a contract column declares; ContractError says what is wrong with the mapping."""
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            raise ContractError(
                f"sqlserver_type must be a mapping with a type, e.g. {_EXAMPLE}, got {spec!r}"
            )
        name = spec["type"]
        if name not in KNOWN_TYPES:
            raise ContractError(
                f"unsupported SQL Server type {name!r} (supported: {', '.join(sorted(KNOWN_TYPES))})"
            )
        wanted = _PARAMETERS.get(name, ())
        given = set(spec) - {"type"}
        if given != set(wanted):
            raise ContractError(
                f"SQL Server type {name} takes {', '.join(wanted) or 'no parameters'}, "
                f"got {', '.join(sorted(given)) or 'none'}"
            )
        sql_type = cls(name, **{key: spec[key] for key in wanted})
        sql_type._check(spec)
        return sql_type

    def _check(self, spec: dict) -> None:
        def number(key: str, low: int, high: int) -> None:
            value = spec[key]
            if type(value) is not int or not low <= value <= high:
                raise ContractError(
                    f"SQL Server type {self.name}: {key} must be a whole number {low}..{high}, got {value!r}"
                )

        if self.name in FIXED_DECIMALS:
            fixed = FIXED_DECIMALS[self.name]
            if (self.precision, self.scale) != fixed or {type(self.precision), type(self.scale)} != {int}:
                raise ContractError(f"SQL Server type {self.name} is precision {fixed[0]}, scale {fixed[1]}")
        elif self.name in DECIMAL_TYPES:
            number("precision", 1, 38)
            number("scale", 0, self.precision)
        elif self.name == "datetime2":
            number("precision", 0, 7)
        elif self.name in _PARAMETERS and self.length != "max":
            number("length", 1, 8000)

    @property
    def epoch_unit(self) -> str | None:
        """Unit of Debezium's epoch encoding for this type (None when not an epoch number)."""
        if self.name == "date":
            return "days"
        if self.name in {"datetime", "smalldatetime"} or (self.name == "datetime2" and self.precision <= 3):
            return "ms"
        if self.name == "datetime2":
            return "us" if self.precision <= 6 else "ns"
        return None


@dataclass(frozen=True)
class Column:
    name: str
    source_column: str
    sqlserver_type: SqlServerType
    description: str
    references: tuple[str, str] | None = None  # (staging model, column) from a dbt relationships test


@dataclass(frozen=True)
class SourceTable:
    """One captured table: where its events arrive and what its rows hold."""

    schema: str
    table: str
    bronze_table: str
    staging_model: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]

    def topic(self, topic_prefix: str, database: str) -> str:
        """Debezium's topic name: ``<topic.prefix>.<database>.<schema>.<table>``."""
        return f"{topic_prefix}.{database}.{self.schema}.{self.table}"

    @property
    def key_columns(self) -> tuple[Column, ...]:
        by_name = {c.name: c for c in self.columns}
        return tuple(by_name[name] for name in self.primary_key)

    @property
    def slug(self) -> str:
        """Short lower-case name used in object prefixes (``product`` for dbo.Product)."""
        return self.bronze_table.removesuffix("_cdc")


RELATIONSHIPS_TESTS = ("relationships", "relationships_as_drained")  # dbt's, and the pipeline's


def _references(column: dict) -> tuple[str, str] | None:
    """The (model, column) a dbt relationships test on this column points at."""
    for test in column.get("data_tests") or column.get("tests") or ():
        for name in RELATIONSHIPS_TESTS if isinstance(test, dict) else ():
            if name not in test:
                continue
            spec = test[name].get("arguments", test[name])
            model = re.fullmatch(r"ref\(['\"](\w+)['\"]\)", spec["to"].strip())
            if model:
                return model.group(1), spec["field"]
    return None


def _table_from_model(model: dict, path: Path) -> SourceTable | None:
    config = model.get("config") or {}
    source = (config.get("meta") or {}).get("cdc_source")
    if not source:
        return None
    schema, _, table = source["table"].partition(".")
    if not table:
        raise ContractError(f"{path}: cdc_source.table must be <schema>.<table>, got {source['table']!r}")
    columns = []
    for col in model.get("columns", []):
        col_meta = col.get("meta") or {}
        if "source_column" not in col_meta:
            continue  # a column staging adds (deleted, cdc_op, ...), not a captured one
        try:
            sql_type = SqlServerType.from_contract(col_meta["sqlserver_type"])
        except (KeyError, ContractError) as exc:
            raise ContractError(f"{path}: column {col['name']}: {exc}") from exc
        columns.append(
            Column(
                col["name"], col_meta["source_column"], sql_type, col.get("description", ""), _references(col)
            )
        )
    for name in (source["bronze_table"], model["name"], *(c.name for c in columns)):
        if not _IDENTIFIER.match(name):
            raise ContractError(f"{path}: {name!r} is not a lower-case SQL identifier")
    unique_key = config.get("unique_key")
    primary_key = tuple([unique_key] if isinstance(unique_key, str) else unique_key or ())
    if not primary_key:
        raise ContractError(f"{path}: {model['name']} needs config.unique_key (the table's primary key)")
    missing = set(primary_key) - {c.name for c in columns}
    if missing:
        raise ContractError(f"{path}: primary key columns {sorted(missing)} are not captured columns")
    return SourceTable(
        schema=schema,
        table=table,
        bronze_table=source["bronze_table"],
        staging_model=model["name"],
        primary_key=primary_key,
        columns=tuple(columns),
    )


@cache
def load_contract(models_dir: Path = STAGING_MODELS_DIR) -> tuple[SourceTable, ...]:
    """Every captured table, parents before the tables that reference them, then by name."""
    tables = []
    for path in sorted(models_dir.glob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for model in document.get("models", []):
            table = _table_from_model(model, path)
            if table is not None:
                tables.append(table)
    if not tables:
        raise ContractError(f"no staging model in {models_dir} declares config.meta.cdc_source")
    return tuple(sorted(tables, key=lambda t: (any(c.references for c in t.columns), t.bronze_table)))


@cache
def bronze_freshness_hours(models_dir: Path = STAGING_MODELS_DIR) -> float:
    """The bronze sources' ``error_after`` in hours: the age at which the newest bronze row fails a run."""
    (source,) = yaml.safe_load((models_dir / "_bronze__sources.yml").read_text())["sources"]
    limit = source["config"]["freshness"]["error_after"]
    hours_per = {"minute": 1 / 60, "hour": 1, "day": 24}
    if limit.get("period") not in hours_per:
        raise ContractError(f"bronze source freshness: unknown period {limit.get('period')!r}")
    return float(limit["count"]) * hours_per[limit["period"]]


def table(name: str, tables: tuple[SourceTable, ...] | None = None) -> SourceTable:
    """The captured table ``dbo.<name>`` (e.g. ``Product``)."""
    for candidate in tables or load_contract():
        if candidate.table == name:
            return candidate
    raise ContractError(f"no captured table {name!r} in the contract")
