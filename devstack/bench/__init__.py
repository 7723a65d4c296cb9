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
parse as a task start pays it (dag_parse.py).

Prints a table and writes the figures as JSON. Uses a stack of its own (``.stack-bench/``). The run
(run.py) starts each stage (stages.py) in a process of its own by name: ``python -m devstack.bench
--stage NAME``; the references are references.py.
"""
