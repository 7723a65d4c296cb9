"""Benchmark: throughput, memory and incremental cost of the pipeline on the local stack.

    python -m devstack.bench [--events 1000000] [--out benchmarks/results/bench-1000000.json]

Generates N Debezium events over the four topics and runs the pipeline's own code on them, each stage in
a process of its own (so its peak resident memory is its own): drain + MinIO write, bronze load, the dbt
models and the checks. In the same run it measures two references on the same rows: the limit (one plain
COPY of the bronze rows into fresh copies of the bronze tables) and the runbook's way
(docs/manual-procedure.md: one GET per object, one INSERT ... ON CONFLICT DO NOTHING per row; on a sample
of the rows, since at its rate all of them would take hours). Then 1% new events go through drain, load, dbt
and checks again, for the incremental cost. Before that, the dbt stage is timed three ways on the same
data: dbt's CLI, and the DAG's dbt task group in Cosmos's watcher and local modes. Last, the DAG file's
parse as a task start pays it (devstack.dag_parse).

Prints a table and writes the figures as JSON. Uses a stack of its own (``.stack-bench/``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devstack import dag_parse
from devstack.stacks import stack_env
from include.cdc.sqlfiles import statement

REPO = Path(__file__).resolve().parents[1]
RUNBOOK_SAMPLE_ROWS = 20_000
REFERENCES = "bench/references.sql"


@dataclass
class Stage:
    name: str
    events: int
    seconds: float  # wall time of the stage's process, start-up (imports) included
    work_seconds: float  # the stage's own work, start-up excluded
    peak_rss_mb: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.work_seconds if self.work_seconds else 0.0


@dataclass
class Report:
    events: int
    cores: int
    machine: str
    average_message_bytes: float = 0.0
    stages: list[Stage] = field(default_factory=list)
    references: dict[str, dict] = field(default_factory=dict)
    incremental: dict[str, dict] = field(default_factory=dict)
    dag_parse: dict[str, float] = field(default_factory=dict)
    dbt_group: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)


# -- stages, each run in its own process ----------------------------------------------------------

RUN = {"full_refresh": False, "max_events": 0}


def stage_drain() -> int:
    from include.cdc.airflow import tasks

    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    return drained["events"]


def stage_load() -> int:
    from include.cdc.airflow import tasks

    return tasks.load_bronze.function(params=RUN)["total"]["rows_loaded"]


def _dbt_arguments(command: str, target_path: str) -> list[str]:
    """A quiet dbt command on the project, its local profile and the benchmark's target folder."""
    project = str(REPO / "include" / "dbt")
    return [
        command,
        "--quiet",
        "--project-dir",
        project,
        "--profiles-dir",
        project,
        "--target-path",
        target_path,
    ]


def _dbt(command: str) -> None:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(_dbt_arguments(command, os.environ["BENCH_DBT_TARGET"]))
    if not result.success:
        raise RuntimeError(f"dbt {command} failed: {result.exception or result.result}")


def warm_dbt() -> None:
    """dbt's start-up (imports, adapter, project parse): paid by every dbt process, whatever the data."""
    _dbt("parse")


def stage_dbt() -> int:
    _dbt("build")
    return 0


def dbt_group_seconds() -> float:
    """The DAG's dbt task group alone, rebuilding every model (``full_refresh``) as dag.test() runs it:
    one task at a time, in this process. Its wall time runs from its first task's start to its last
    task's end (dag.test()'s own start-up is not the group's). ``PRODUCT_CDC_DBT_MODE`` picks the mode."""
    from devstack.dag_runner import run_dag
    from devstack.demo import ensure_airflow_db, load_dag
    from devstack.services import Stack

    ensure_airflow_db(Stack())
    dag = load_dag()
    dbt_tasks = [t for t in dag.task_ids if t.startswith("dbt.")]
    group = dag.partial_subset(dbt_tasks, include_upstream=False, include_downstream=False)
    outcome = run_dag(group, {**RUN, "full_refresh": True})
    if not outcome.succeeded:
        raise RuntimeError(f"the dbt task group failed: {outcome.failed_tasks()}")
    return outcome.wall_seconds("dbt.")


def cli_dbt_build(env: dict[str, str]) -> float:
    """Wall seconds of ``dbt build --full-refresh`` as a user runs it from a shell: the floor for the dbt
    task group rebuilding every model."""
    from include.cdc.airflow.dbt_group import DBT

    command = [DBT, *_dbt_arguments("build", env["BENCH_DBT_TARGET"]), "--full-refresh"]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


_CHECKS: list[tuple[str, object]] = []


def warm_checks() -> None:
    """Render the DAG's checks (parsing the DAG file is not the checks' cost)."""
    from devstack.demo import load_dag

    dag = load_dag()
    env = dag.get_template_env()
    for task in dag.task_group_dict["checks"].iter_tasks():
        _CHECKS.append((env.from_string(task.sql).render(params=task.params), task.parameters))


def stage_checks() -> int:
    """Every check of the DAG, run as its operator runs it."""
    from devstack.services import Stack

    with Stack().connect_warehouse() as conn:
        failed = [sql for sql, parameters in _CHECKS if not all(conn.execute(sql, parameters).fetchone())]
    if failed:
        raise RuntimeError(f"{len(failed)} checks failed")
    return 0


# Each stage: the step that warms the process up (not timed as work), and the stage itself.
STAGES = {
    "drain": (None, stage_drain),
    "load": (None, stage_load),
    "dbt": (warm_dbt, stage_dbt),
    "checks": (warm_checks, stage_checks),
}


def measure_stage(name: str) -> dict[str, float]:
    """Run one stage in this process (``python -m devstack.bench --stage NAME``): its work seconds, the
    events it reported and the process's peak resident memory."""
    from include.cdc.airflow import tasks  # noqa: F401 (the task modules' imports are start-up, not work)

    warm, stage = STAGES[name]
    if warm:
        warm()
    started = time.perf_counter()
    events = stage()
    work = time.perf_counter() - started
    # Peak resident memory as the process saw it (VmHWM): rusage's maxrss of the parent would count the
    # pages it shared with the (large) benchmark process between fork and exec.
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    return {"work_seconds": work, "events": events, "peak_rss_mb": peak_kb / 1024}


def in_fresh_process(option: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """Wall seconds of ``python -m devstack.bench <option>`` and the JSON it printed last."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "devstack.bench", *option], cwd=REPO, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(option)} failed:\n{result.stderr[-3000:]}")
    return seconds, json.loads(result.stdout.strip().splitlines()[-1])


def run_stage(name: str, env: dict[str, str]) -> tuple[float, float, float, int]:
    """(wall seconds, work seconds, peak resident MB, events it reported) of one stage in a fresh process.

    Work excludes the process's start-up: imports, and a stage's warm-up (dbt's own start-up and parse,
    rendering the checks); the wall time includes everything."""
    seconds, measured = in_fresh_process(["--stage", name], env)
    return seconds, measured["work_seconds"], measured["peak_rss_mb"], measured["events"]


# -- references ----------------------------------------------------------------------------------


def _fresh_copy(conn, table: str, copy: str) -> None:
    conn.execute(statement(REFERENCES, "create_schema"))
    conn.execute(statement(REFERENCES, "drop_copy", copy=copy))
    conn.execute(statement(REFERENCES, "create_copy", copy=copy, table=table))
    conn.commit()


def plain_copy(conn, tables: list[str]) -> tuple[int, float]:
    """COPY every bronze row into a fresh copy of its table: how fast PostgreSQL takes these rows."""
    rows, seconds = 0, 0.0
    for table in tables:
        _fresh_copy(conn, f"bronze.{table}", f"bench.{table}")
        data = io.BytesIO()
        with conn.cursor().copy(statement(REFERENCES, "copy_out", table=f"bronze.{table}")) as copy:
            for chunk in copy:
                data.write(chunk)
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            with cursor.copy(statement(REFERENCES, "copy_in", copy=f"bench.{table}")) as copy:
                copy.write(data.getbuffer())
            rows += cursor.rowcount
        conn.commit()
        seconds += time.perf_counter() - started
    return rows, seconds


def runbook_way(conn, store, settings, sample_rows: int, commit_each_row: bool) -> tuple[int, float]:
    """The runbook's load, written afresh: one GET per object, one INSERT ... ON CONFLICT per row,
    committed row by row (the runbook's script) or object by object (a kinder variant)."""
    from include.cdc.archive.landing import decode_record, read_lines
    from include.cdc.debezium.envelope import parse_change_event
    from include.cdc.debezium.jsonb_text import NotAnEnvelope

    for table in settings.contract:
        _fresh_copy(conn, f"bronze.{table.bronze_table}", f"bench.runbook_{table.bronze_table}")
    rows = 0
    started = time.perf_counter()
    for table in settings.contract:
        insert = statement(REFERENCES, "runbook_insert", copy=f"bench.runbook_{table.bronze_table}")
        for key in store.list_keys(settings.raw_prefix_for(table)):
            for line in read_lines(store.get(key)):
                record = decode_record(line)
                if record.is_tombstone:
                    continue
                try:
                    event = parse_change_event(record.key, record.value, table)
                except NotAnEnvelope:
                    continue
                conn.execute(
                    insert,
                    (
                        record.topic,
                        record.partition,
                        record.offset,
                        record.timestamp_ms,
                        event.key_json,
                        event.envelope_json,
                        key,
                    ),
                )
                if commit_each_row:
                    conn.commit()
                rows += 1
                if rows >= sample_rows:
                    conn.commit()
                    return rows, time.perf_counter() - started
            conn.commit()
    return rows, time.perf_counter() - started


# -- the run -------------------------------------------------------------------------------------


def _produce(stack, generator, batches, envelopes_wanted: int | None) -> tuple[int, int]:
    """Produce batches until ``envelopes_wanted`` envelopes went out (None: all); (envelopes, bytes)."""
    from devstack.feed import produce

    sent, size, chunk = 0, 0, []

    def flush():
        produce(stack.kafka.bootstrap, chunk)
        chunk.clear()

    for batch in batches:
        chunk += batch
        sent += sum(m.value is not None for m in batch)
        size += sum(len(m.value or b"") for m in batch)
        if len(chunk) >= 50_000:
            flush()
        if envelopes_wanted is not None and sent >= envelopes_wanted:
            break
    flush()
    return sent, size


def run(events: int, out: Path) -> Report:
    # Always a stack of its own: the benchmark resets it, so it must never be the demo's or the tests'.
    os.environ.update(stack_env("bench"))
    from devstack.feed import ensure_topic
    from devstack.generator import ChangeEventGenerator, GeneratorOptions
    from devstack.services import Stack

    stack = Stack(Path(os.environ["CORD_STACK_DIR"]))
    print(f"benchmark of {events} events on {os.cpu_count()} cores; fresh stack in {stack.dir}")
    stack.reset()
    stack = Stack(stack.dir)
    stack.up()
    env = {**os.environ, **stack.airflow_env(), "BENCH_DBT_TARGET": str(stack.dir / "dbt-target")}
    env.update(stack.dbt_env())
    report = Report(events=events, cores=os.cpu_count() or 0, machine=platform.machine())

    incremental = max(1, events // 100)
    # Stock moves dominate a live catalog's changes: about 1 KB per event on average.
    options = GeneratorOptions(
        products=max(100, events // 500),
        events=events + incremental,
        converter="plain",
        stock_change_share=0.8,
    )
    generator = ChangeEventGenerator(options)
    for topic in generator.topics.values():
        ensure_topic(stack.kafka.bootstrap, topic, generator.options.partitions)
    batches = generator.batches()
    started = time.perf_counter()
    sent, size = _produce(stack, generator, batches, events)
    report.average_message_bytes = size / max(1, sent)
    print(
        f"produced {sent} events ({report.average_message_bytes:.0f} bytes on average) in "
        f"{time.perf_counter() - started:.0f} s"
    )

    def stage(name: str, label: str) -> Stage:
        seconds, work, rss, counted = run_stage(name, env)
        result = Stage(label, counted or sent, seconds, work, rss)
        rate = result.events_per_second
        print(f"  {label:32} {seconds:8.1f} s ({work:.1f} s work) {rate:10.0f} ev/s {rss:6.0f} MB")
        return result

    report.stages.append(stage("drain", "drain + MinIO write"))
    report.stages.append(stage("load", "bronze load"))
    report.stages.append(stage("dbt", "dbt build (models + tests)"))
    report.stages.append(stage("checks", "SQL checks"))

    from include.cdc.archive.storage import ObjectStore
    from include.cdc.settings import Settings

    os.environ.update(stack.airflow_env())
    settings = Settings.from_env()
    store = ObjectStore(stack.s3.client(), settings.bucket, settings.s3_conn_id)
    with stack.connect_warehouse() as conn:
        copied, copy_seconds = plain_copy(conn, [t.bronze_table for t in settings.contract])
        report.references = {
            "plain_copy": {"rows": copied, "seconds": copy_seconds, "rows_per_second": copied / copy_seconds}
        }
        for name, per_row, sample in (
            ("runbook_way", True, RUNBOOK_SAMPLE_ROWS // 4),
            ("runbook_way_commit_per_object", False, RUNBOOK_SAMPLE_ROWS),
        ):
            rows, seconds = runbook_way(conn, store, settings, min(sample, sent), commit_each_row=per_row)
            report.references[name] = {
                "rows": rows,
                "seconds": seconds,
                "rows_per_second": rows / seconds,
                "sampled": rows < sent,
            }
    print(f"  {'reference: plain COPY':32} {copy_seconds:8.1f} s {copied / copy_seconds:10.0f} rows/s")
    for name in ("runbook_way", "runbook_way_commit_per_object"):
        ref = report.references[name]
        print(f"  {'reference: ' + name:32} {ref['seconds']:8.1f} s {ref['rows_per_second']:10.0f} rows/s")

    # The dbt stage three ways on the same data, each rebuilding every model: dbt's CLI (the floor), then
    # the DAG's task group in Cosmos's watcher mode (the default) and in its local mode.
    report.dbt_group = {"cli_dbt_build_seconds": cli_dbt_build(env)}
    for mode in ("watcher", "local"):
        _, measured = in_fresh_process(["--dbt-group"], {**env, "PRODUCT_CDC_DBT_MODE": mode})
        report.dbt_group[f"{mode}_seconds"] = measured["seconds"]
    for name, value in report.dbt_group.items():
        print(f"  {'dbt: ' + name:32} {value:8.1f} s")

    _produce(stack, generator, batches, None)
    report.incremental = {}
    for name, label in (("drain", "drain"), ("load", "load"), ("dbt", "dbt"), ("checks", "checks")):
        seconds, work, rss, counted = run_stage(name, env)
        report.incremental[label] = {
            "seconds": seconds,
            "work_seconds": work,
            "peak_rss_mb": rss,
            "events": counted,
        }
    first = sum(s.work_seconds for s in report.stages[1:])
    again = sum(report.incremental[k]["work_seconds"] for k in ("load", "dbt", "checks"))
    print(
        f"  incremental run (+{incremental} events): load + dbt + checks {again:.1f} s beside {first:.1f} s"
    )

    parse = dag_parse.measure(rounds=3, airflow_home=stack.dir / "parse-home")
    report.dag_parse = parse.to_json()

    drain, load = report.stages[0], report.stages[1]
    kafka_to_bronze = sent / (drain.work_seconds + load.work_seconds)
    report.ratios = {
        "bronze_load_vs_plain_copy": load.events_per_second
        / report.references["plain_copy"]["rows_per_second"],
        "kafka_to_bronze_events_per_second": kafka_to_bronze,
        "kafka_to_bronze_vs_runbook": kafka_to_bronze / report.references["runbook_way"]["rows_per_second"],
        "kafka_to_bronze_vs_runbook_commit_per_object": (
            kafka_to_bronze / report.references["runbook_way_commit_per_object"]["rows_per_second"]
        ),
        "incremental_vs_first_run": again / first,
        "dag_parse_vs_baseline": parse.dag_file_ratio,
        "dag_parse_vs_sdk_and_cosmos": parse.cold_seconds / parse.sdk_and_cosmos_seconds,
        "dag_parse_four_at_once_vs_import_timeout": parse.four_at_once_vs_import_timeout,
        "dbt_group_vs_cli": report.dbt_group["watcher_seconds"] / report.dbt_group["cli_dbt_build_seconds"],
        "dbt_group_local_vs_cli": (
            report.dbt_group["local_seconds"] / report.dbt_group["cli_dbt_build_seconds"]
        ),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            asdict(report)
            | {"stages": [asdict(s) | {"events_per_second": s.events_per_second} for s in report.stages]},
            indent=2,
        )
    )
    print_table(report)
    print(f"figures written to {out}")
    stack.down()
    return report


def print_table(report: Report) -> None:
    r = report
    print(
        f"\n{r.events} events, {r.average_message_bytes:.0f} bytes on average, {r.cores} cores ({r.machine})"
    )
    print(f"{'stage':34} {'wall s':>8} {'work s':>8} {'events/s':>10} {'peak RSS MB':>12}")
    for s in r.stages:
        rate = s.events_per_second
        print(f"{s.name:34} {s.seconds:8.1f} {s.work_seconds:8.1f} {rate:10.0f} {s.peak_rss_mb:12.0f}")
    for name, ref in r.references.items():
        print(f"{'reference: ' + name:34} {'':8} {ref['seconds']:8.1f} {ref['rows_per_second']:10.0f}")
    end_to_end = r.ratios["kafka_to_bronze_events_per_second"]
    print(f"{'Kafka -> bronze, end to end':34} {'':8} {'':8} {end_to_end:10.0f}")
    print(f"bronze load / plain COPY:       {r.ratios['bronze_load_vs_plain_copy']:.0%}  (target >= 85%)")
    print(
        f"Kafka -> bronze / runbook way:  {r.ratios['kafka_to_bronze_vs_runbook']:.1f}x (target >= 20x); "
        f"{r.ratios['kafka_to_bronze_vs_runbook_commit_per_object']:.1f}x against its kinder variant"
    )
    print(f"incremental run / first run:    {r.ratios['incremental_vs_first_run']:.1%} (target <= 10%)")
    dbt = r.dbt_group
    print(
        f"dbt task group / dbt build CLI: {r.ratios['dbt_group_vs_cli']:.2f}x in watcher mode "
        f"({dbt['watcher_seconds']:.1f} s against {dbt['cli_dbt_build_seconds']:.1f} s; target <= 1.3x), "
        f"{r.ratios['dbt_group_local_vs_cli']:.2f}x in local mode ({dbt['local_seconds']:.1f} s)"
    )
    parse = r.dag_parse
    print(
        f"DAG parse at a task start:      {parse['cold_seconds']:.2f} s, "
        f"{r.ratios['dag_parse_vs_baseline']:.2f}x the {parse['baseline_seconds']:.2f} s with no DAG "
        f"(target <= 1.2x); "
        f"import airflow.sdk, cosmos alone {parse['sdk_and_cosmos_seconds']:.2f} s; four at once "
        f"{parse['four_at_once_seconds']:.2f} s (import timeout {dag_parse.IMPORT_TIMEOUT_SECONDS:.0f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path)
    # What the benchmark runs in processes of their own, printing JSON:
    parser.add_argument("--stage", choices=STAGES, help="measure one stage in this process")
    parser.add_argument("--dbt-group", action="store_true", help="time the DAG's dbt task group")
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(measure_stage(args.stage)))
    elif args.dbt_group:
        print(json.dumps({"seconds": dbt_group_seconds()}))
    else:
        run(args.events, args.out or REPO / "benchmarks" / "results" / f"bench-{args.events}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
