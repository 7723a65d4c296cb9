"""What holds for every DAG in dags/, as in the Astro CLI project template: it imports without errors,
is tagged, and every task retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[2] / "dags"
BAG = DagBag(str(DAGS))  # tests/conftest.py turns the example DAGs off


def test_every_dag_file_imports_without_errors():
    assert BAG.import_errors == {}
    assert {Path(dag.fileloc).name for dag in BAG.dags.values()} == {p.name for p in DAGS.glob("*.py")}


@pytest.mark.parametrize("dag", BAG.dags.values(), ids=list(BAG.dags))
def test_every_dag_is_tagged_and_every_task_retries(dag):
    assert dag.tags
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
