"""One benchmark run: a fresh stack of its own, the events produced, each stage measured in a fresh
process, the references, the dbt group three ways, the incremental run, the DAG parse; the table and the
JSON."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devstack.bench import dag_parse
from devstack.bench.references import plain_copy, runbook_way
from devstack.bench.stages import cli_dbt_build, in_fresh_process, run_stage
from devstack.stacks import stack_env

RUNBOOK_SAMPLE_ROWS = 20_000
# The Cosmos modes whose dbt task group can be timed, each with its ratio to the CLI's build.
DBT_GROUP_RATIOS = {"watcher": "dbt_group_vs_cli", "local": "dbt_group_local_vs_cli"}


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


def _produce(stack, generator, batches, envelopes_wanted: int | None) -> tuple[int, int]:
    """Produce batches until ``envelopes_wanted`` envelopes went out (None: all); (envelopes, bytes)."""
    from devstack.synth.feed import produce

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


def run(
    events: int, out: Path, parse_rounds: int = 3, dbt_modes: tuple[str, ...] = tuple(DBT_GROUP_RATIOS)
) -> Report:
    # Always a stack of its own: the benchmark resets it, so it must never be the demo's or the tests'.
    os.environ.update(stack_env("bench"))
    from devstack.stack import Stack
    from devstack.synth.feed import ensure_topic
    from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions

    stack = Stack(Path(os.environ["CORD_STACK_DIR"]))
    print(f"benchmark of {events} events on {os.cpu_count()} cores; fresh stack in {stack.dir}")
    stack.reset()
    stack = Stack(stack.dir)
    stack.up(connect=False)  # the benchmark produces its events and runs no check_connector
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
    for mode in dbt_modes:
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

    parse = dag_parse.measure(rounds=parse_rounds, airflow_home=stack.dir / "parse-home")
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
    }
    for mode in dbt_modes:
        report.ratios[DBT_GROUP_RATIOS[mode]] = (
            report.dbt_group[f"{mode}_seconds"] / report.dbt_group["cli_dbt_build_seconds"]
        )
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
    modes = [
        f"{r.ratios[ratio]:.2f}x in {mode} mode ({dbt[f'{mode}_seconds']:.1f} s"
        f"{'; target <= 1.3x' if mode == 'watcher' else ''})"
        for mode, ratio in DBT_GROUP_RATIOS.items()
        if ratio in r.ratios
    ]
    print(f"dbt task group / dbt build CLI ({dbt['cli_dbt_build_seconds']:.1f} s): {', '.join(modes)}")
    parse = r.dag_parse
    print(
        f"DAG parse at a task start:      {parse['cold_seconds']:.2f} s, "
        f"{r.ratios['dag_parse_vs_baseline']:.2f}x the {parse['baseline_seconds']:.2f} s with no DAG "
        f"(target <= 1.2x); "
        f"import airflow.sdk, cosmos alone {parse['sdk_and_cosmos_seconds']:.2f} s; four at once "
        f"{parse['four_at_once_seconds']:.2f} s (import timeout {dag_parse.IMPORT_TIMEOUT_SECONDS:.0f} s)"
    )
    slowest = ", ".join(f"{m['module']} {m['self_seconds']:.2f} s" for m in parse["importtime_top10"][:3])
    compiled = "read compiled" if parse["bytecode_compiled"] else "COMPILED FROM SOURCE at each start"
    print(f"its slowest imports:            {slowest} (Airflow's bytecode {compiled})")
