"""The contract's SQL Server types are parsed twice: in Python (include/cdc/contract.py, for the
decoder, the generator and the bronze checks) and in Jinja (the dbt macro ``sqlserver_type`` in
include/dbt/macros/debezium_decode.sql, for the staging casts). Here both read the same texts and
must agree, on every contract column and on any well-formed type text."""

from __future__ import annotations

import re
from dataclasses import asdict
from types import SimpleNamespace

import jinja2
import yaml
from hypothesis import given
from hypothesis import strategies as st

from include.cdc.contract import KNOWN_TYPES, STAGING_MODELS_DIR, ContractError, SqlServerType

MACROS = STAGING_MODELS_DIR.parents[1] / "macros" / "debezium_decode.sql"


class _Returned(Exception):
    """How dbt's ``return()`` leaves a macro, emulated."""


class CompilerError(Exception):
    """dbt's ``exceptions.raise_compiler_error``, emulated."""


def _return(value):
    raise _Returned(value)


def _raise_compiler_error(message):
    raise CompilerError(message)


_MODULE = (
    jinja2.Environment(autoescape=False)  # noqa: S701 (SQL, not HTML)
    .from_string(MACROS.read_text())
    .make_module(
        {
            "modules": SimpleNamespace(re=re),
            "return": _return,
            "exceptions": SimpleNamespace(raise_compiler_error=_raise_compiler_error),
        }
    )
)


def parsed_by_dbt(text: str) -> dict | None:
    """The macro's reading, its None values dropped; None when dbt refuses the text."""
    try:
        _MODULE.sqlserver_type(text)
    except _Returned as returned:
        return {key: value for key, value in returned.args[0].items() if value is not None}
    except CompilerError:
        return None
    raise AssertionError(f"sqlserver_type({text!r}) returned nothing")


def parsed_by_python(text: str) -> dict | None:
    try:
        parsed = SqlServerType.parse(text)
    except ContractError:
        return None
    return {key: value for key, value in asdict(parsed).items() if value is not None}


def contract_type_texts() -> list[str]:
    texts = []
    for path in sorted(STAGING_MODELS_DIR.glob("stg_*.yml")):
        for model in yaml.safe_load(path.read_text())["models"]:
            texts += [
                c["meta"]["sqlserver_type"] for c in model["columns"] if "sqlserver_type" in c.get("meta", {})
            ]
    return texts


def test_every_contract_type_reads_the_same_in_python_and_in_dbt():
    texts = contract_type_texts()
    assert texts
    for text in texts:
        assert parsed_by_python(text) is not None, text
        assert parsed_by_dbt(text) == parsed_by_python(text), text


spaces = st.sampled_from(["", " ", "  "])
names = st.sampled_from(sorted(KNOWN_TYPES)).flatmap(lambda n: st.sampled_from([n, n.upper(), n.title()]))
one_argument = st.integers(0, 38).map(str) | st.text("maxy_", min_size=1)
arguments = st.one_of(
    st.just(""),
    st.builds(lambda a, s: f"({s}{a}{s})", one_argument, spaces),
    st.builds(lambda p, c, s: f"({s}{p}{s},{s}{c}{s})", st.integers(1, 38), st.integers(0, 38), spaces),
)


@given(spaces, names, spaces, arguments, spaces)
def test_any_well_formed_type_reads_the_same_in_python_and_in_dbt(lead, name, gap, args, tail):
    text = f"{lead}{name}{gap}{args}{tail}"
    assert parsed_by_dbt(text) == parsed_by_python(text), text  # the same reading, or both refuse it
