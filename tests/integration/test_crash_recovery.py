"""Crash anywhere, rerun, same result.

The pipeline's process is killed with SIGKILL (no exception handler, no ``finally`` runs) at each point
where a crash could double or lose data; then the DAG runs again normally. Afterwards bronze holds
every produced event exactly once, the archive holds no overlapping objects, and every staging model
and both marts equal the source's final state, as after a run that never crashed.

Crashes inside the pipeline's own code use its crash points (include/cdc/faults.py, off unless
PRODUCT_CDC_CRASH_AT is set). Crashes during dbt and during the checks kill the process running the
DAG while its query waits on a lock the test holds, so the kill lands inside an open transaction.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.dag_runner import run_dag
from devstack.demo import ensure_airflow_db, load_dag
from devstack.verify import mart_mismatches, staging_mismatches
from include.cdc.airflow import tasks
from include.cdc.archive.landing import ObjectKey
from tests.integration.warehouse import RUN, ingest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
INGEST = "from tests.integration.warehouse import ingest; ingest()"
RUN_DAG = "from devstack.dag_runner import run_dag; from devstack.demo import load_dag; run_dag(load_dag())"


@pytest.fixture
def dag(stack, corner, monkeypatch):
    monkeypatch.setenv("PRODUCT_CDC_RETRY_DELAY_SECONDS", "1")
    ensure_airflow_db(stack)
    return load_dag()


def start(code: str, **env: str) -> subprocess.Popen:
    """The pipeline in a process of its own, as an Airflow worker runs a task."""
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def crashed(process: subprocess.Popen, timeout: float = 300) -> bool:
    return process.wait(timeout) == -signal.SIGKILL


def kill_while_waiting_on(corner, process: subprocess.Popen, relation: str, query_fragment: str) -> str:
    """Hold an exclusive lock on ``relation``; SIGKILL ``process`` once one of its queries waits on it.
    Return that query, to show where the kill landed."""
    with corner.connect() as locker:
        locker.autocommit = False
        locker.execute(f"lock table {relation} in access exclusive mode")
        deadline = time.monotonic() + 300
        waiting = []
        while time.monotonic() < deadline and process.poll() is None and not waiting:
            waiting = corner.query(
                "select a.query from pg_locks as l join pg_stat_activity as a on a.pid = l.pid "
                "where not l.granted and l.relation = %s::regclass",
                relation,
            )
            time.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        assert crashed(process, 30)
        locker.rollback()
    assert waiting, f"the process finished without touching {relation}"
    assert query_fragment in waiting[0]["query"], waiting[0]["query"]
    return waiting[0]["query"]


def assert_bronze_is_the_archive_and_the_produced_records(corner, generator) -> None:
    for name, counts in generator.counts.items():
        bronze = f"bronze.{generator.tables[name].bronze_table}"
        assert corner.scalar(f"select count(*) from {bronze}") == counts.envelopes, bronze
    archive = corner.archive_keys()
    for previous, current in itertools.pairwise(sorted(ObjectKey.parse(k) for k in archive)):
        if (previous.topic, previous.partition) == (current.topic, current.partition):
            assert previous.last_offset < current.first_offset, (previous, current)
    assert {r["object_key"] for r in corner.query("select object_key from cdc_meta.load_ledger")} == set(
        archive
    )
    assert corner.scalar("select count(*) from cdc_meta.quarantine") == 0


def assert_exactly_once_and_equal(corner, generator) -> None:
    assert_bronze_is_the_archive_and_the_produced_records(corner, generator)
    assert staging_mismatches(corner.query, generator) == []
    assert mart_mismatches(corner.query, generator) == []


@pytest.mark.parametrize(
    ("crash_at", "left_behind"),
    [
        ("drain.object_written:2", "objects landed, no offset committed"),
        ("commit.before_commit", "every object landed, no offset committed"),
        ("bronze.object_loaded:2", "two objects loaded, the others not"),
        ("bronze.rows_inserted:1", "an object's rows inserted, its ledger row not"),
    ],
)
def test_crash_in_the_pipeline_then_rerun(dag, corner, crash_at, left_behind):
    generator = corner.generator(products=20, events=2500, restart_every=800)
    corner.produce(list(generator.messages()))

    process = start(INGEST, PRODUCT_CDC_CRASH_AT=crash_at, PRODUCT_CDC_BATCH_SIZE="300")
    assert crashed(process), f"no crash at {crash_at}"

    assert corner.archive_keys(), left_behind  # the crash can come after objects of any table
    run = run_dag(dag)
    assert run.succeeded, run.failed_tasks()
    assert_exactly_once_and_equal(corner, generator)


RERUNS = {
    "load_bronze retried alone": lambda: tasks.load_bronze.function(params=RUN),
    "drain_kafka retried, its commit failed": lambda: tasks.drain_kafka.function(params=RUN),
    "drain_kafka and commit_offsets": lambda: tasks.commit_offsets.function(
        tasks.drain_kafka.function(params=RUN)
    ),
    "a full_refresh run": lambda: tasks.load_bronze.function(params={**RUN, "full_refresh": True}),
}


@pytest.mark.parametrize("seed", range(8))
def test_random_kills_during_the_drain_then_any_reruns(corner, monkeypatch, seed):
    """SIGKILL at a random moment with uploads in flight, then a random sequence of reruns, full
    refreshes and single-task retries (some with another batch size), then one normal run: bronze holds
    every produced record once, and every archive object is in the ledger."""
    rng = random.Random(seed)
    generator = corner.generator(products=20, events=3000, restart_every=900, seed=seed)
    corner.produce(list(generator.messages()))
    batch_size = rng.choice([150, 250, 400])
    process = start(
        f"from tests.integration.slow_upload_ingest import main; main({seed})",
        PRODUCT_CDC_BATCH_SIZE=str(batch_size),
    )
    landed_before_kill = rng.randint(1, 10)
    while process.poll() is None and len(corner.archive_keys()) < landed_before_kill:
        time.sleep(0.02)
    time.sleep(rng.uniform(0, 0.3))
    process.send_signal(signal.SIGKILL)
    assert crashed(process, 30), "the ingest finished before the kill"

    steps = rng.sample(sorted(RERUNS), rng.randint(0, 3))
    for step in steps:
        monkeypatch.setenv("PRODUCT_CDC_BATCH_SIZE", str(rng.choice([100, 300, 1000])))
        RERUNS[step]()
    ingest()
    assert_bronze_is_the_archive_and_the_produced_records(corner, generator)


@pytest.mark.parametrize(
    ("relation", "query_fragment"),
    [
        ("marts.dim_product_search", "dim_product_search"),  # during the dbt group
        ("cdc_meta.run_metrics", "for_sale_share"),  # during the checks
    ],
)
def test_crash_during_dbt_or_checks_then_rerun(dag, corner, relation, query_fragment):
    generator = corner.generator(products=20, events=2500, restart_every=800)
    batches = generator.batches()
    corner.produce_until(batches, 1200)
    assert run_dag(dag).succeeded
    corner.produce([m for batch in batches for m in batch])

    kill_while_waiting_on(corner, start(RUN_DAG), relation, query_fragment)

    run = run_dag(dag)
    assert run.succeeded, run.failed_tasks()
    assert_exactly_once_and_equal(corner, generator)
