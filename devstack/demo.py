"""The demo: a fresh local stack, generated events, one run of the DAG, each layer's row counts, and
Superset left running with the marts' dashboard."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from devstack.stack import Stack
from devstack.stack.config import REPO
from devstack.synth.feed import ensure_topic, produce
from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions
from devstack.verify import mart_mismatches, staging_mismatches
from include.cdc.sqlfiles import SQL_DIR

DAG_ID = "product_cdc_sync"
DASHBOARD_SLUG = "cord-product-catalog"  # include/superset/dashboards


def prepare_airflow(stack: Stack) -> None:
    """Point this process at the stack's Airflow and make sure its metadata database is migrated."""
    os.environ.update(stack.airflow_env())
    ensure_airflow_db(stack)


def ensure_airflow_db(stack: Stack) -> None:
    marker = stack.dir / "airflow" / ".migrated"
    if not marker.exists():
        from airflow.utils.db import upgradedb

        upgradedb()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


@contextmanager
def output_to(path: Path):
    """Send this process's stdout and stderr (file descriptors, so Airflow's handlers too) to a file."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"the DAG does not import: {bag.import_errors}")
    return bag.dags[DAG_ID]


def warehouse_query(stack: Stack):
    """A function running one query on the stack's warehouse, rows as dicts."""
    from psycopg.rows import dict_row

    def query(sql: str) -> list[dict]:
        with stack.connect_warehouse(row_factory=dict_row) as conn:
            return conn.execute(sql).fetchall()

    return query


def _timed_run(dag, conf: dict, log: Path):
    from devstack.dag_runner import run_dag

    started = time.monotonic()
    with output_to(log):
        outcome = run_dag(dag, conf)
    return outcome, time.monotonic() - started


def _stage_seconds(dag, outcome) -> dict[str, float]:
    seconds = outcome.task_seconds
    return {
        "load_bronze": seconds.get("load_bronze", 0.0),
        "dbt": outcome.wall_seconds("dbt."),
        "checks": sum(seconds.get(task.task_id, 0.0) for task in dag.task_group_dict["checks"].iter_tasks()),
    }


def run_demo(stack: Stack, products: int, events: int, seed: int, compare_refresh: bool = False) -> int:
    """One DAG run on all events; with ``compare_refresh``, the last 1% arrive later for an incremental
    run, then a full refresh rebuilds the same data, and the three runs' times are printed."""
    started = time.monotonic()
    print("resetting the local stack ...")
    stack.reset()
    stack = Stack(stack.dir)
    stack.up()
    with output_to(stack.dir / "logs" / "demo-airflow-setup.log"):
        prepare_airflow(stack)

    generator = ChangeEventGenerator(GeneratorOptions(products=products, events=events, seed=seed))
    for topic in generator.topics.values():
        ensure_topic(stack.kafka.bootstrap, topic, generator.options.partitions)
    batches = generator.batches()
    first, envelopes = [], 0
    for batch in batches:
        first += batch
        envelopes += sum(m.value is not None for m in batch)
        if compare_refresh and envelopes >= events * 0.99:
            break
    produce(stack.kafka.bootstrap, first)
    c = generator.total
    print(
        f"fed {c.messages} messages to {len(generator.topics)} topics: {c.envelopes} change events "
        f"({c.by_op}, {c.reemitted} re-emitted after connector restarts) and {c.tombstones} tombstones"
    )
    for table, counts in generator.counts.items():
        print(
            f"  {generator.topics[table]:40} {counts.envelopes:>7} events {counts.tombstones:>6} tombstones"
        )

    dag = load_dag()
    log = stack.dir / "logs" / "demo-dag-run.log"
    print(f"running the DAG with dag.test() (its log: {log}) ...")
    runs = [("first run", *_timed_run(dag, {}, log))]
    if compare_refresh and runs[0][1].succeeded:
        rest = [m for batch in batches for m in batch]
        produce(stack.kafka.bootstrap, rest)
        added = sum(m.value is not None for m in rest)
        print(f"fed {added} more change events: an incremental run, then a full refresh of the same data")
        runs.append(("incremental run", *_timed_run(dag, {}, log)))
        runs.append(("full refresh", *_timed_run(dag, {"full_refresh": True}, log)))

    print()
    for label, outcome, seconds in runs:
        stages = ", ".join(f"{name} {value:.1f} s" for name, value in _stage_seconds(dag, outcome).items())
        print(f"{label:16} {'success' if outcome.succeeded else 'FAILED':8} {seconds:6.1f} s   ({stages})")
    last = runs[-1][1]
    if not last.succeeded:
        print(f"failed tasks: {last.failed_tasks()}; task logs in {log}")
        return 1
    print(f"{len(last.task_states)} tasks: " + ", ".join(sorted(last.task_states)))

    query = warehouse_query(stack)
    print("\nlayer                             what                          rows")
    for row in query((SQL_DIR / "analytics" / "layer_counts.sql").read_text()):
        print(f"{row['layer']:33} {row['what']:26} {row['row_count']:>7}")
    print("\nthe source's final state (kept by the generator):")
    for table, state in generator.state.items():
        print(
            f"  dbo.{table:22} {len(state.rows):>6} rows ever seen, {len(state.live_keys()):>6} live, "
            f"{len(state.active_keys()):>6} active, {len(state.deleted):>6} deleted"
        )
    differences = staging_mismatches(query, generator) + mart_mismatches(query, generator)
    if differences:
        print(f"the warehouse differs from the source in {len(differences)} places, e.g. {differences[:3]}")
        return 1
    print(
        "every staging model equals the source's final state row for row; both marts hold its active "
        "products, each once, with the values they copy (what they derive: the dbt unit tests, make test)"
    )
    print("starting Superset with the marts' dashboard (include/superset) ...")
    stack.superset.start()
    print(f"demo wall time {time.monotonic() - started:.1f} s")
    print(
        f"\nSuperset: {stack.superset.url}/superset/dashboard/{DASHBOARD_SLUG}/ (user admin, password: "
        f"superset_admin_password in {stack.dir / 'secrets.json'}); `python -m devstack down` stops it"
    )
    return 0
