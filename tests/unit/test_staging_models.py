"""The staging models follow the contract (include/cdc/contract.py reads it from the models' yml).

Each stg_*.sql is the SQL of stg_product.sql with its own table; its columns come from the contract
through the macro cdc_contract, and each column's cast from debezium_decode, which reads the structured
``meta.sqlserver_type`` that contract.py checks. Here the models and macros are rendered with plain
Jinja, as dbt would render them, with the contract Python reads: every contract type has a decoding,
and every model selects the contract's columns, then the technical columns, in order. (dbt itself
compiles and runs them in tests/integration: test_staging_decoding.py, test_dbt_unit_tests.py.)
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


def properties(source: SourceTable) -> dict:
    (model,) = yaml.safe_load((STAGING_MODELS_DIR / f"{source.staging_model}.yml").read_text())["models"]
    return model


def render_model(source: SourceTable, incremental: bool) -> str:
    """The model's SQL as dbt compiles it, with the model's own properties as ``model``."""
    model = properties(source)
    node = {"resource_type": "model", "name": model["name"], "config": model["config"]}
    node["columns"] = {c["name"]: c for c in model["columns"]}
    context = {**DBT_GLOBALS, "model": node}
    contract_macro = (
        _environment().from_string((MACROS / "cdc_contract.sql").read_text()).make_module(context)
    )
    sql = (STAGING_MODELS_DIR / f"{source.staging_model}.sql").read_text()
    return (
        _environment()
        .from_string(sql)
        .render(
            cdc_contract=_returned(contract_macro.cdc_contract),
            debezium_decode=DECODE.debezium_decode,
            source=lambda name, relation: f"{name}.{relation}",
            is_incremental=lambda: incremental,
            this=f"staging.{source.staging_model}",
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


# -- every model is stg_product.sql with its own table, and selects the contract's columns ----------


def expected_sql(source: SourceTable) -> str:
    """stg_product.sql with the table, the property file and the bronze table of ``source``."""
    product = table("Product")
    text = (STAGING_MODELS_DIR / f"{product.staging_model}.sql").read_text()
    for old, new in [
        (f"Table: {product.schema}.{product.table}.", f"Table: {source.schema}.{source.table}."),
        (f"Contract: {product.staging_model}.yml.", f"Contract: {source.staging_model}.yml."),
        (f"source('bronze', '{product.bronze_table}')", f"source('bronze', '{source.bronze_table}')"),
    ]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def test_the_staging_models_are_the_contracts_tables():
    models = {path.stem for path in STAGING_MODELS_DIR.glob("*.sql")}
    assert models == {source.staging_model for source in load_contract()}


@pytest.mark.parametrize("source", load_contract(), ids=lambda t: t.staging_model)
def test_a_staging_model_is_stg_product_with_its_own_table(source):
    path = STAGING_MODELS_DIR / f"{source.staging_model}.sql"
    assert path.read_text() == expected_sql(source), f"{path.name}: make it stg_product.sql with its table"


def selected(sql: str, last_from: str) -> list[str]:
    """The names of the outermost select, the one that reads ``last_from``."""
    select = sql.rsplit("\nselect", 1)[1].split(f"\nfrom {last_from}")[0]
    return [re.split(r"\s+as\s+|\.", item.strip())[-1] for item in select.split(",")]


@pytest.mark.parametrize("source", load_contract(), ids=lambda t: t.staging_model)
def test_a_staging_model_selects_the_contracts_columns_then_the_technical_ones(source):
    contract = [c.name for c in source.columns]
    incremental = render_model(source, incremental=True)
    assert selected(incremental, "winners") == contract + TECHNICAL
    first_build = render_model(source, incremental=False)
    assert f"from bronze.{source.bronze_table}\n" in first_build
    decoded = first_build.split("decoded as (")[1].split("\n    from latest_new")[0]
    # a column's line is "<name>," or ends "as <name>," (a decimal's decoding spans lines)
    names = re.findall(r"(?m)^(?: {8}|.*\sas\s)(\w+),?$", decoded)
    assert names == contract + TECHNICAL[:-1], "decoded: the contract's columns, then the technical ones"
