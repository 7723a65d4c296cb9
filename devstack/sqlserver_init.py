"""The SQL Server init script of the ``astro dev start`` stack, rendered from the source contract.

``docker-compose.override.yml`` runs ``devstack/compose/sqlserver_cdc_init.sql`` with sqlcmd once SQL
Server is up: it creates the source database, every captured table of the contract (columns and types
from ``include/dbt/models/staging/*.yml``, the primary key from ``config.unique_key``, a foreign key
for every dbt relationships test), enables change data capture on the database and on each table, and
inserts a small catalog. Each step is skipped when it is done already, so the script runs at every start.

The seed rows are the snapshot of the event generator (``devstack.synth.generator``): the same plausible
catalog the local stack's events describe, children pointing at existing products.

Regenerate after a contract change (``tests/unit/test_astro_project.py`` fails until then)::

    python -m devstack.sqlserver_init
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions
from include.cdc.contract import Column, SourceTable, SqlServerType, load_contract
from include.cdc.settings import Settings

OUTPUT = Path(__file__).resolve().parent / "compose" / "sqlserver_cdc_init.sql"
SEED_PRODUCTS = (
    8  # enough for the first run's checks to pass (supplier and language shares, docs/operations.md)
)
SEED = 7

HEADER = """\
-- The source database of the `astro dev start` stack (docker-compose.override.yml, service
-- sqlserver-init): the captured tables of the contract, change data capture on each, a small catalog.
-- Generated from include/dbt/models/staging/*.yml by `python -m devstack.sqlserver_init`; do not edit.
-- Every step is skipped when done, so the script runs at every start.
"""


def quoted(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def unicode_text(text: str) -> str:
    return "N'" + text.replace("'", "''") + "'"


def type_ddl(sql_type: SqlServerType) -> str:
    """The type as a column definition spells it (``decimal(10,2)``, ``nvarchar(max)``, ``money``)."""
    if sql_type.name in {"decimal", "numeric"}:
        return f"{sql_type.name}({sql_type.precision},{sql_type.scale})"
    if sql_type.name == "datetime2":
        return f"datetime2({sql_type.precision})"
    if sql_type.length is not None:
        return f"{sql_type.name}({sql_type.length})"
    return sql_type.name


def literal(value: object, sql_type: SqlServerType) -> str:
    """A Python value of the generator as a T-SQL literal of the column's type."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        # datetime takes at most milliseconds in a string, smalldatetime whole seconds
        timespec = {"datetime": "milliseconds", "smalldatetime": "seconds"}.get(sql_type.name, "microseconds")
        return unicode_text(value.isoformat(timespec=timespec))
    if isinstance(value, date):
        return unicode_text(value.isoformat())
    return unicode_text(str(value))


def foreign_keys(table: SourceTable, tables: tuple[SourceTable, ...]) -> list[str]:
    """A FOREIGN KEY per column that a dbt relationships test points at another captured table."""
    by_model = {t.staging_model: t for t in tables}
    constraints = []
    for column in table.columns:
        if column.references is None or column.references[0] not in by_model:
            continue
        parent = by_model[column.references[0]]
        (target,) = [c for c in parent.columns if c.name == column.references[1]]
        constraints.append(
            f"CONSTRAINT {quoted(f'FK_{table.table}_{column.source_column}')} "
            f"FOREIGN KEY ({quoted(column.source_column)}) "
            f"REFERENCES {quoted(parent.schema)}.{quoted(parent.table)} ({quoted(target.source_column)})"
        )
    return constraints


def column_ddl(column: Column, keys: set[str]) -> str:
    nullability = "NOT NULL" if column.name in keys else "NULL"
    return f"{quoted(column.source_column)} {type_ddl(column.sqlserver_type)} {nullability}"


def create_table(table: SourceTable, tables: tuple[SourceTable, ...], rows: list[dict]) -> str:
    name = f"{quoted(table.schema)}.{quoted(table.table)}"
    keys = set(table.primary_key)
    primary_key = ", ".join(quoted(c.source_column) for c in table.key_columns)
    definitions = [
        *(column_ddl(c, keys) for c in table.columns),
        f"CONSTRAINT {quoted(f'PK_{table.table}')} PRIMARY KEY ({primary_key})",
        *foreign_keys(table, tables),
    ]
    columns = ", ".join(quoted(c.source_column) for c in table.columns)
    values = ",\n        ".join(
        "(" + ", ".join(literal(row.get(c.source_column), c.sqlserver_type) for c in table.columns) + ")"
        for row in rows
    )
    body = ",\n        ".join(definitions)
    insert = f"    INSERT INTO {name} ({columns}) VALUES\n        {values};\n" if rows else ""
    return (
        f"-- {table.schema}.{table.table}: {table.staging_model}, {len(rows)} rows\n"
        f"IF OBJECT_ID(N'{name}', N'U') IS NULL\n"
        f"BEGIN\n"
        f"    CREATE TABLE {name} (\n        {body}\n    );\n"
        f"{insert}"
        f"END;\nGO\n"
    )


def create_schema(schema: str) -> str:
    statement = unicode_text(f"CREATE SCHEMA {quoted(schema)}")
    return f"IF SCHEMA_ID({unicode_text(schema)}) IS NULL\n    EXEC({statement});\nGO\n"


def enable_cdc(table: SourceTable) -> str:
    name = f"{quoted(table.schema)}.{quoted(table.table)}"
    return (
        f"IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'{name}'))\n"
        f"    EXEC sys.sp_cdc_enable_table @source_schema = {unicode_text(table.schema)}, "
        f"@source_name = {unicode_text(table.table)}, @role_name = NULL, @supports_net_changes = 0;\n"
        f"GO\n"
    )


def seed_rows(tables: tuple[SourceTable, ...], products: int = SEED_PRODUCTS) -> dict[str, list[dict]]:
    """The generator's snapshot of a small catalog: each table's rows, by table name."""
    generator = ChangeEventGenerator(GeneratorOptions(products=products, seed=SEED), tables)
    next(generator.batches())  # the snapshot; the generator's state then holds its rows
    return {name: list(state.rows.values()) for name, state in generator.state.items()}


def render(tables: tuple[SourceTable, ...] | None = None, database: str | None = None) -> str:
    tables = tables or load_contract()
    database = database or Settings().source_database
    rows = seed_rows(tables)
    schemas = sorted({t.schema for t in tables} - {"dbo"})
    parts = [
        HEADER,
        f"IF DB_ID({unicode_text(database)}) IS NULL\n    CREATE DATABASE {quoted(database)};\nGO\n",
        f"USE {quoted(database)};\nGO\n",
        "IF NOT EXISTS (SELECT 1 FROM sys.databases WHERE name = DB_NAME() AND is_cdc_enabled = 1)\n"
        "    EXEC sys.sp_cdc_enable_db;\nGO\n",
        *(create_schema(schema) for schema in schemas),
    ]
    for table in tables:  # parents first (load_contract's order), as the foreign keys need
        parts += [create_table(table, tables, rows[table.table]), enable_cdc(table)]
    return "\n".join(parts)


def main() -> None:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
