"""The small run as users see it: under a real scheduler (LocalExecutor), from queued to success, with
each task's queued, start and end times.

On the benchmark's stack, in a warehouse database of its own: a real Airflow runs product_cdc_sync three
times, triggered as from the UI: a first run over ``--events`` events, a run with nothing new, and a run
with 1% new events. A run that starts every 15 minutes pays its fixed costs (task starts, dbt's start)
96 times a day, so the figures show where a small run's time goes. ``python -m devstack.bench.small_runs``
writes benchmarks/results/small-runs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

from devstack.stacks import REPO, stack_env

for _name, _value in stack_env("bench").items():
    os.environ.setdefault(_name, _value)

from devstack.demo import prepare_airflow  # noqa: E402 (needs the variables above)
from devstack.stack import Stack  # noqa: E402
from devstack.stack.local_airflow import AirflowServices  # noqa: E402
from devstack.synth.feed import ensure_topic, produce  # noqa: E402
from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions  # noqa: E402

DAG_ID = "product_cdc_sync"


def measure(events: int) -> dict:
    stack = Stack()
    stack.up()
    name = uuid.uuid4().hex[:8]
    database, prefix = f"small_runs_{name}", f"s{name}"
    env = stack.connections_apart(database, f"group-{name}")
    env["PRODUCT_CDC_TOPIC_PREFIX"] = prefix
    new = max(1, events // 100)
    generator = ChangeEventGenerator(
        GeneratorOptions(topic_prefix=prefix, products=max(100, events // 500), events=events + new)
    )
    for topic in generator.topics.values():
        ensure_topic(stack.kafka.bootstrap, topic, generator.options.partitions)
    batches = list(generator.batches())
    sent = 0
    while batches and sent < events:
        batch = batches.pop(0)
        produce(stack.kafka.bootstrap, batch)
        sent += sum(m.value is not None for m in batch)
    prepare_airflow(stack)
    airflow = AirflowServices(stack, extra_env={**env, "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"})
    airflow.start()
    runs = {}
    try:
        airflow.wait_for_dag(DAG_ID)
        for label in ("first", "nothing_new", "one_percent_new"):
            if label == "one_percent_new":
                produce(stack.kafka.bootstrap, [m for batch in batches for m in batch])
            run_id = f"{label}-{uuid.uuid4().hex[:6]}"
            airflow.trigger(DAG_ID, run_id)
            state = airflow.wait_for_run(DAG_ID, run_id, timeout=1800)
            runs[label] = airflow.run_timeline(DAG_ID, run_id)
            print(f"{label}: {state} in {runs[label]['wall_seconds']} s", flush=True)
    finally:
        airflow.stop()
        stack.postgres.psql(f"drop database if exists {database} with (force);")
        stack.down()
    return {
        "events": sent,
        "one_percent_new_events": generator.total.envelopes - sent,
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "runs": runs,
        "ratios": {
            "one_percent_new_vs_first": runs["one_percent_new"]["wall_seconds"]
            / runs["first"]["wall_seconds"],
            "nothing_new_vs_its_task_seconds": (
                runs["nothing_new"]["wall_seconds"] / runs["nothing_new"]["task_seconds_sum"]
            ),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.bench.small_runs", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "small-runs.json")
    args = parser.parse_args()
    figures = measure(args.events)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    for label, run in figures["runs"].items():
        print(f"\n{label}: {run['wall_seconds']} s from queued to {run['state']}")
        for task_id, t in run["tasks"].items():
            times = " ".join(f"{t[k]!s:>7}" for k in ("queued", "start", "end"))
            print(f"  {task_id[:60]:60} {times} {t['seconds']:6.2f}")
    print(json.dumps(figures["ratios"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
