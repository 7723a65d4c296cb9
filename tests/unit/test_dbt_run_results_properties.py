"""Whatever dbt leaves in ``target/run_results.json``, reading it never raises, and a build counts as
passing only when the file lists nodes and none of them failed: that decides whether a run with nothing
new may skip the dbt stage, and which tests report a status. The expected outcome is worked out here from
the document itself, so the properties fail both ways: a good file refused and a bad one accepted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from include.cdc.airflow.alerts import DBT_FAILED, DbtNode, read_run_results
from include.cdc.airflow.dbt_group import passing_build

STATUSES = ["success", "pass", "warn", "skipped", "no-op", *DBT_FAILED]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
text_or_other = st.one_of(st.sampled_from(STATUSES), st.text(max_size=12), json_values)
dbt_like_node = st.fixed_dictionaries(
    {
        "unique_id": st.one_of(st.sampled_from(["model.p.m", "test.p.t.1"]), json_values),
        "status": text_or_other,
    },
    optional={"message": st.one_of(st.none(), st.text(max_size=20), json_values), "failures": json_values},
)
dbt_like_documents = st.fixed_dictionaries(
    {"results": st.one_of(st.lists(st.one_of(dbt_like_node, json_values), max_size=5), json_values)},
    optional={"metadata": json_values},
)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dbt-project")
    (folder / "target").mkdir()
    return folder


def written(project: Path, content: bytes) -> str:
    (project / "target" / "run_results.json").write_bytes(content)
    return str(project)


def expected_nodes(document: object) -> list[tuple[str, str]] | None:
    """dbt's shape: an object whose ``results`` is a list of objects, each with a text unique_id and
    status."""
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        return None
    nodes = document["results"]
    if not all(isinstance(n, dict) and isinstance(n.get("unique_id"), str) for n in nodes):
        return None
    if not all(isinstance(n.get("status"), str) for n in nodes):
        return None
    return [(n["unique_id"], n["status"]) for n in nodes]


@given(content=st.binary(max_size=200))
def test_any_bytes_are_read_or_refused_without_an_exception(project, content):
    nodes = read_run_results(written(project, content))
    assert nodes is None or all(isinstance(node, DbtNode) for node in nodes)


@given(document=st.one_of(dbt_like_documents, json_values))
def test_a_document_is_read_exactly_when_it_has_dbt_s_shape(project, document):
    nodes = read_run_results(written(project, json.dumps(document).encode()))
    expected = expected_nodes(document)
    assert (nodes is None) == (expected is None)
    if nodes is not None:
        assert [(node.unique_id, node.status) for node in nodes] == expected
        assert all(isinstance(node.message, str) for node in nodes)


@given(document=dbt_like_documents)
def test_a_build_passes_only_when_it_lists_nodes_and_none_failed(project, document):
    statuses = passing_build(read_run_results(written(project, json.dumps(document).encode())))
    expected = expected_nodes(document)
    passed = bool(expected) and all(status not in DBT_FAILED for _, status in expected)
    assert (statuses is not None) == passed
    if passed:
        assert statuses == dict(expected)


def test_without_a_file_nothing_is_read_and_nothing_passes(tmp_path):
    assert read_run_results(str(tmp_path)) is None
    assert passing_build(None) is None
