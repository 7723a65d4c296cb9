"""OpenLineage: one DAG run's events, sent to a file, connect every Kafka topic to both marts.

The graph is built from the events alone (an edge from each input to each output of a job), so every
task on the way must report what it read and wrote under the names the next one uses: the drain's
prefixes are the load's inputs, the load's bronze tables are the dbt sources Cosmos reports, and the
marts are the outputs of dbt's build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest
from airflow.providers.common.sql.operators.sql import SQLCheckOperator

from devstack.demo import ensure_airflow_db, load_dag
from include.cdc.airflow.lineage import kafka_namespace

pytestmark = pytest.mark.integration

MARTS = ("marts.dim_product", "marts.dim_product_search")


def lineage_graph(events: list[dict]) -> tuple[set[str], dict[str, set[str]]]:
    """The datasets (``namespace/name``) and, per dataset, those a job read it for and wrote."""
    nodes: set[str] = set()
    edges: dict[str, set[str]] = defaultdict(set)
    jobs: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for event in events:
        inputs, outputs = jobs[f"{event['job']['namespace']}/{event['job']['name']}/{event['run']['runId']}"]
        inputs.update(f"{d['namespace']}/{d['name']}" for d in event.get("inputs") or [])
        outputs.update(f"{d['namespace']}/{d['name']}" for d in event.get("outputs") or [])
    for inputs, outputs in jobs.values():
        nodes |= inputs | outputs
        for source in inputs:
            edges[source] |= outputs - {source}
    return nodes, edges


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_one_run_connects_every_topic_to_both_marts(stack, corner, tmp_path):
    corner.produce([m for batch in corner.generator(products=20, events=800).batches() for m in batch])
    ensure_airflow_db(stack)
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "product_cdc_test",
        "PRODUCT_CDC_RETRY_DELAY_SECONDS": "1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "tests.integration.lineage_run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stderr[-5000:]

    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    nodes, edges = lineage_graph(events)
    print("nodes:", *sorted(nodes), sep="\n  ")
    print("edges:", *(f"{a} -> {b}" for a in sorted(edges) for b in sorted(edges[a])), sep="\n  ")

    warehouse = stack.connections()["cord_warehouse"]
    postgres = f"postgres://{warehouse['host']}:{warehouse['port']}/{corner.database}"
    kafka = kafka_namespace(stack.connections()["cord_kafka"]["extra"]["bootstrap.servers"])
    marts = {f"{postgres}.{mart}" for mart in MARTS}
    assert marts <= nodes
    for topic in corner.topics:
        assert marts <= reachable(edges, f"{kafka}/{topic}"), topic
    # Each SQL check reports the warehouse tables it read.
    checks = {f"product_cdc_sync.{t.task_id}" for t in load_dag().tasks if isinstance(t, SQLCheckOperator)}
    read = defaultdict(set)
    for event in events:
        read[event["job"]["name"]] |= {f"{d['namespace']}/{d['name']}" for d in event.get("inputs") or []}
    for check in checks:
        assert read[check], check
        assert all(name.startswith(f"{postgres}.") for name in read[check]), check
