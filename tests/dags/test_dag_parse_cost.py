"""What every task start pays to parse the DAG file: no client library.

The worker parses the DAG file in a fresh interpreter before each task; the DAG processor does so on
every pass. The clients (boto3, confluent_kafka, psycopg, aiohttp) are for the task bodies. How long
the parse takes beside Airflow's own start is a figure of the benchmark (``dag_parse`` in its JSON), not
a test: a timed test fails on a loaded machine whatever the code does.
"""

from __future__ import annotations

import json
import subprocess
import sys

from devstack.bench import dag_parse

# Imported by the task bodies, never on the DAG file's import path.
CLIENT_LIBRARIES = {
    *("boto3", "botocore", "confluent_kafka", "psycopg", "aiohttp", "msgspec", "isal", "dbt"),
    "requests",  # bi_refresh's Superset client
}


def test_the_dag_file_imports_no_client_library(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "devstack.bench.dag_parse", "--modules"],
        cwd=dag_parse.REPO,
        env=dag_parse.environment(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    imported = set(json.loads(result.stdout.splitlines()[-1]))
    assert "include" in imported  # the probe parsed the DAG file
    assert not imported & CLIENT_LIBRARIES
