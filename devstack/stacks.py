"""The stacks besides the demo's (``.stack/``, the default ports): the tests' and the benchmark's, each
with its own directory and ports, so that a running demo, a test session and a benchmark never meet.

Stdlib only: the variables must be set before ``devstack.stack`` (which reads them on import) and
Airflow (which reads its configuration on import) are imported.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_PORTS = (
    *("postgres", "kafka", "s3", "connect", "smtp", "airflow", "docs", "redis"),
    *("worker_log", "trigger_log", "celery_logs"),  # Airflow's log servers (celery_logs: two ports)
    *("kafka_sasl", "kafka_controller"),
    "superset",
)
STACKS = {
    "tests": (
        ".stack-tests",
        (26432, 29192, 28433, 28183, 28125, 28180, 28188, 26479, 28893, 28894, 28895, 29193, 29194, 28189),
    ),
    "bench": (
        ".stack-bench",
        (26532, 29292, 28533, 28283, 28225, 28280, 28288, 26579, 28993, 28994, 28995, 29293, 29294, 28289),
    ),
    # A stack that tests/integration/test_local_airflow.py starts and stops whole (`devstack down`).
    "lifecycle": (
        ".stack-tests/lifecycle",
        (26442, 29202, 28463, 28193, 28135, 28190, 28198, 26489, 28903, 28904, 28905, 29203, 29204, 28199),
    ),
}


# The tests' JVMs (Kafka, Kafka Connect) live minutes and carry little data: compiled by C1 alone, with
# the serial collector, they start on 14 CPU seconds instead of 22 here. The benchmark's keep the JVM's
# defaults, which its throughput figures were measured with.
QUICK_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def stack_env(name: str) -> dict[str, str]:
    """The ``CORD_STACK_*`` variables that select the stack ``name``."""
    folder, ports = STACKS[name]
    env = {"CORD_STACK_DIR": str(REPO / folder)}
    if name != "bench":
        env["CORD_STACK_JVM_OPTIONS"] = QUICK_JVM
    env.update(
        {f"CORD_STACK_{service.upper()}_PORT": str(port) for service, port in zip(_PORTS, ports, strict=True)}
    )
    return env


# A parallel test worker's stack is this many ports above the first worker's: apart from every other
# stack's ports (the helpers' CORD_STACK_* ranges too, which are 1,000 apart).
WORKER_PORT_STEP = 500


def worker_env(env: dict[str, str], worker: int) -> dict[str, str]:
    """The stack of the test session's ``worker``-th parallel worker (pytest-xdist), given the first
    worker's (``env``): its own folder and ports, so that two workers' tests never share a service."""
    if worker == 0:
        return dict(env)
    moved = dict(env)
    moved.update(
        {
            name: str(int(value) + WORKER_PORT_STEP * worker)
            for name, value in env.items()
            if name.endswith("_PORT")
        }
    )
    moved["CORD_STACK_DIR"] = f"{env['CORD_STACK_DIR']}-worker{worker}"
    return moved
