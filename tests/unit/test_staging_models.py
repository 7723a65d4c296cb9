"""The staging models follow the contract (include/cdc/contract.py reads it from the models' yml).

Each stg_*.sql is a short recipe over its own bronze table: changes -> latest (the latest event per key)
-> decoded (the contract's columns, then the technical ones) -> on an incremental run, later_than_staged.
Its columns come from the contract through the macro cdc_contract, each column's cast from
debezium_decode (which reads the structured ``meta.sqlserver_type`` that contract.py checks), and the
mechanics every model shares from include/dbt/macros/cdc_staging.sql. Here the models and macros are
rendered with plain Jinja, as dbt would render them, with the contract Python reads: every contract type
has a decoding, and every model reads its own bronze table, picks the latest event per contract key and
selects the contract's columns, then the technical columns, in order; the checks are shown to fail on
broken models. (dbt itself compiles and runs them in tests/integration: test_staging_decoding.py,
test_dbt_unit_tests.py.)
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import jinja2
import pytest
import yaml

from include.cdc.contract import (
    FIXED_DECIMALS,
    KNOWN_TYPES,
    STAGING_MODELS_DIR,
    SourceTable,
    SqlServerType,
    load_contract,
    table,
)

DBT_DIR = STAGING_MODELS_DIR.parents[1]
MACROS = DBT_DIR / "macros"
TECHNICAL = [c["name"] for c in yaml.safe_load((DBT_DIR / "cdc_technical_columns.yml").read_text())]


class _Returned(Exception):
    """How dbt's ``return()`` leaves a macro, emulated."""


class CompilerError(Exception):
    """dbt's ``exceptions.raise_compiler_error``, emulated."""


def _return(value):
    raise _Returned(value)


def _raise_compiler_error(message):
    raise CompilerError(message)


def _returned(macro):
    """A macro that ends in ``return()``, as a function that gives what it returns."""

    def call(*args):
        try:
            macro(*args)
        except _Returned as returned:
            return returned.args[0]
        raise AssertionError(f"{macro} returned nothing")

    return call


def _environment() -> jinja2.Environment:
    return jinja2.Environment(autoescape=False, extensions=["jinja2.ext.do"])  # noqa: S701 (SQL, not HTML)


DBT_GLOBALS = {
    "return": _return,
    "exceptions": SimpleNamespace(raise_compiler_error=_raise_compiler_error),
    "var": lambda name, default=None: {"debezium_decimal_handling": "auto"}.get(name, default),
    "execute": True,
}
DECODE = _environment().from_string((MACROS / "debezium_decode.sql").read_text()).make_module(DBT_GLOBALS)
STAGING_MACROS = re.findall(r"\{% macro (\w+)\(", (MACROS / "cdc_staging.sql").read_text())


def properties(source: SourceTable) -> dict:
    (model,) = yaml.safe_load((STAGING_MODELS_DIR / f"{source.staging_model}.yml").read_text())["models"]
    return model


def render_model(
    source: SourceTable, incremental: bool, sql: str | None = None, macros: str | None = None
) -> str:
    """The model's SQL as dbt compiles it, with the model's own properties as ``model``; ``sql`` and
    ``macros`` replace the model's text and cdc_staging.sql's (to show that the checks can fail)."""
    model = properties(source)
    node = {"resource_type": "model", "name": model["name"], "config": model["config"]}
    node["columns"] = {c["name"]: c for c in model["columns"]}
    this = f"staging.{source.staging_model}"
    contract_macro = (
        _environment()
        .from_string((MACROS / "cdc_contract.sql").read_text())
        .make_module({**DBT_GLOBALS, "model": node})
    )
    staging_macros = (
        _environment()
        .from_string(macros if macros is not None else (MACROS / "cdc_staging.sql").read_text())
        .make_module({**DBT_GLOBALS, "this": this, "debezium_decode": DECODE.debezium_decode})
    )
    shared = {name: getattr(staging_macros, name) for name in STAGING_MACROS}
    sql = sql if sql is not None else (STAGING_MODELS_DIR / f"{source.staging_model}.sql").read_text()
    return (
        _environment()
        .from_string(sql)
        .render(
            **shared,
            cdc_contract=_returned(contract_macro.cdc_contract),
            source=lambda name, relation: f"{name}.{relation}",
            is_incremental=lambda: incremental,
            this=this,
        )
    )


def decode(sql_type: dict) -> str:
    column = {"name": "c", "meta": {"source_column": "C", "sqlserver_type": sql_type}}
    return str(DECODE.debezium_decode("image", column)).strip()


# -- every contract type has a decoding -----------------------------------------------------------

EXAMPLES = {  # one mapping of each type contract.py accepts
    **{name: {"type": name} for name in KNOWN_TYPES},
    **{name: {"type": name, "length": 30} for name in ("char", "varchar", "nchar", "nvarchar")},
    **{name: {"type": name, "precision": 12, "scale": 3} for name in ("decimal", "numeric")},
    **{name: {"type": name, "precision": p, "scale": s} for name, (p, s) in FIXED_DECIMALS.items()},
    "datetime2": {"type": "datetime2", "precision": 7},
}


@pytest.mark.parametrize("name", sorted(KNOWN_TYPES))
def test_every_type_the_contract_accepts_has_a_decoding(name):
    sql_type = SqlServerType.from_contract(EXAMPLES[name])  # the example is a valid contract type
    decoded = decode(EXAMPLES[name])
    assert "(image ->> 'C')" in decoded
    if sql_type.scale is not None:  # the cast takes the contract's precision and scale, none of its own
        assert decoded.endswith(f"::numeric({sql_type.precision}, {sql_type.scale})"), decoded


def test_every_contract_column_has_a_decoding():
    for source in load_contract():
        for column in properties(source)["columns"]:
            if "source_column" in (column.get("meta") or {}):
                assert f"->> '{column['meta']['source_column']}')" in str(DECODE.debezium_decode("i", column))


@pytest.mark.parametrize(
    ("sql_type", "message"),
    [("decimal(10,2)", "must be a mapping"), ({"type": "geography"}, "no decoding for SQL Server type")],
)
def test_a_type_without_a_decoding_stops_the_compile(sql_type, message):
    with pytest.raises(CompilerError, match=re.escape(message)):
        decode(sql_type)


# -- every model reads its own table, keeps the latest event per key and selects the contract's columns --


def selected(sql: str) -> list[str]:
    """The names of the outermost select (the last one that starts a line)."""
    select = sql.rsplit("\nselect\n", 1)[1].rsplit("\nfrom ", 1)[0]
    return [re.split(r"\s+as\s+|\.", item.strip())[-1] for item in select.split(",")]


def cte(sql: str, name: str) -> str:
    """The body of the CTE ``name``."""
    assert f"\n{name} as (\n" in sql or sql.startswith(f"with {name} as (\n"), f"no CTE {name}"
    return sql.split(f"{name} as (\n", 1)[1].split("\n)", 1)[0]


def contract_problems(source: SourceTable, sql: str | None = None, macros: str | None = None) -> list[str]:
    """What in the staging model of ``source`` (or ``sql``, rendered with ``macros``) breaks its contract."""
    problems = []
    contract = [c.name for c in source.columns]
    keys = ", ".join(source.primary_key)
    text = sql if sql is not None else (STAGING_MODELS_DIR / f"{source.staging_model}.sql").read_text()
    if re.findall(r"source\([^)]*\)", text) != [f"source('bronze', '{source.bronze_table}')"]:
        problems.append(f"the model's one source() is not source('bronze', '{source.bronze_table}')")
    for incremental in (False, True):
        run = "incremental" if incremental else "first build"
        rendered = render_model(source, incremental, sql, macros)
        if f"\n    from bronze.{source.bronze_table}\n" not in cte(rendered, "changes") + "\n":
            problems.append(f"{run}: changes does not read bronze.{source.bronze_table}")
        latest = cte(rendered, "latest")
        if (
            f"select distinct on ({keys})\n" not in latest
            or f"order by {source.primary_key[0]} asc," not in latest
        ):
            problems.append(f"{run}: latest is not the first event per ({keys}) in latest-first order")
        # a decoded column's line is "<name>," or ends "as <name>," (a decimal's decoding spans lines)
        decoded = re.findall(
            r"(?m)^(?: {8}|.*\sas\s)(\w+),?$", cte(rendered, "decoded").split("\n    from ")[0]
        )
        if decoded != contract + TECHNICAL[:-1]:
            problems.append(
                f"{run}: decoded is not the contract's columns, then the technical ones: {decoded}"
            )
        if selected(rendered) != contract + TECHNICAL:
            problems.append(
                f"{run}: the model does not select the contract's columns, then the technical ones"
            )
        final = rendered.rsplit("\nfrom ", 1)[1].strip()
        if final != ("later_than_staged" if incremental else "decoded"):
            problems.append(f"{run}: the model selects from {final}")
        if incremental and f"select distinct on ({keys}) *\n" not in cte(rendered, "later_than_staged"):
            problems.append(f"{run}: later_than_staged does not rank each key's new and staged rows")
    return problems


def test_the_staging_models_are_the_contracts_tables():
    models = {path.stem for path in STAGING_MODELS_DIR.glob("*.sql")}
    assert models == {source.staging_model for source in load_contract()}


@pytest.mark.parametrize("source", load_contract(), ids=lambda t: t.staging_model)
def test_a_staging_model_follows_its_contract(source):
    assert contract_problems(source) == []


def _broken_model(old: str, new: str) -> str:
    text = (STAGING_MODELS_DIR / f"{table('Product').staging_model}.sql").read_text()
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _broken_macros(old: str, new: str) -> str:
    text = (MACROS / "cdc_staging.sql").read_text()
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("sql", "macros", "problem"),
    [
        (_broken_model("'product_cdc'", "'product_analogue_cdc'"), None, "one source() is not"),
        (
            _broken_model("distinct on ({{ contract['keys'] | join(', ') }})", "distinct on (cdc_op)"),
            None,
            "latest is",
        ),
        (_broken_model(",\n        {{ cdc_technical_columns() }}", ""), None, "decoded is not"),
        (None, _broken_macros(" 'kafka_offset',", ""), "does not select the contract's columns"),
        (
            None,
            _broken_macros("select distinct on ({{ keys | join(', ') }}) *", "select *"),
            "later_than_staged",
        ),
    ],
    ids=[
        "other source",
        "other key",
        "no technical columns decoded",
        "a technical column less",
        "no ranking",
    ],
)
def test_the_contract_checks_fail_on_a_broken_model(sql, macros, problem):
    problems = contract_problems(table("Product"), sql, macros)
    assert any(problem in p for p in problems), problems
