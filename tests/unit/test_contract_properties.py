"""The contract's type mappings: a type dbt's decoder can cast, or a ContractError, whatever YAML holds.

``meta.sqlserver_type`` is written by hand, and dbt's macro renders its parameters into casts such as
``numeric(10, 3)``: a mapping the contract accepts must hold exactly what the macro can render, so a
parameter written as ``19.0``, ``"19"`` or ``true`` is refused as a missing one is.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from include.cdc.contract import _PARAMETERS, FIXED_DECIMALS, KNOWN_TYPES, ContractError, SqlServerType

numbers = st.integers(min_value=-1, max_value=40)  # around every bound but length's
yaml_scalars = st.one_of(
    numbers,
    numbers.map(float),  # YAML's 19.0
    numbers.map(str),  # YAML's "19"
    st.booleans(),
    st.none(),
    st.sampled_from([8000, 8001, "max", "MAX", ""]),
    st.floats(allow_nan=False),
    st.text(max_size=5),
)
any_mapping = st.dictionaries(
    st.sampled_from(["type", "length", "precision", "scale", "Type"]),
    st.one_of(yaml_scalars, st.sampled_from(sorted(KNOWN_TYPES))),
    max_size=4,
)


def _valid(name: str) -> st.SearchStrategy[dict]:
    wanted = _PARAMETERS.get(name, ())
    if name in FIXED_DECIMALS:
        precision, scale = FIXED_DECIMALS[name]
        return st.just({"type": name, "precision": precision, "scale": scale})
    if wanted == ("precision", "scale"):
        return st.integers(1, 38).flatmap(
            lambda p: st.builds(lambda s: {"type": name, "precision": p, "scale": s}, st.integers(0, p))
        )
    if wanted == ("length",):
        return st.builds(lambda n: {"type": name, "length": n}, st.integers(1, 8000) | st.just("max"))
    if wanted == ("precision",):
        return st.builds(lambda p: {"type": name, "precision": p}, st.integers(0, 7))
    return st.just({"type": name})


valid_mappings = st.sampled_from(sorted(KNOWN_TYPES)).flatmap(_valid)


@given(st.one_of(any_mapping, yaml_scalars, st.lists(yaml_scalars, max_size=2)))
def test_any_yaml_value_is_a_castable_type_or_a_contract_error(spec):
    try:
        sql_type = SqlServerType.from_contract(spec)
    except ContractError:
        return
    wanted = _PARAMETERS.get(sql_type.name, ())
    assert sql_type.name == spec["type"]
    assert set(spec) == {"type", *wanted}
    for key in wanted:
        value = getattr(sql_type, key)
        assert type(value) is int or (key, value) == ("length", "max"), (key, value)


@given(valid_mappings)
def test_a_valid_mapping_is_read_as_written(spec):
    sql_type = SqlServerType.from_contract(spec)
    assert {
        "type": sql_type.name,
        **{key: getattr(sql_type, key) for key in _PARAMETERS.get(sql_type.name, ())},
    } == spec


@given(
    valid_mappings.filter(lambda spec: len(spec) > 1 and "max" not in spec.values()),
    st.data(),
    st.sampled_from([float, str, lambda value: bool(value), lambda value: None]),
)
def test_a_parameter_that_is_not_a_whole_number_is_refused(spec, data, retype):
    key = data.draw(st.sampled_from(sorted(set(spec) - {"type"})))
    with_retyped = {**spec, key: retype(spec[key])}
    try:
        SqlServerType.from_contract(with_retyped)
    except ContractError:
        return
    raise AssertionError(f"accepted {with_retyped}")
