"""The CeleryExecutor mode of the local Airflow (``CORD_AIRFLOW_EXECUTOR=celery``): Redis and two workers.

One worker serves Airflow's default queue, the other the queue the DAG sends its dbt build to
(``PRODUCT_CDC_DBT_QUEUE``, ``dbt`` here unless set). Each has a working directory of its own and a
Celery host name of its own, which task instances record as their host: two hosts, on one machine.
Task logs go to the stack's Airflow home, which the API server reads, so the workers serve none; should
one serve them, its log server is on loopback (devstack/airflow_cli.py) and on a port of its own.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from devstack.stack.config import CELERY_WORKERS, StackError, airflow_command
from devstack.stack.stack import Stack

EXECUTOR_VARIABLE = "CORD_AIRFLOW_EXECUTOR"
DBT_QUEUE_VARIABLE = "PRODUCT_CDC_DBT_QUEUE"
DEFAULT_QUEUE = "default"  # Airflow's [operators] default_queue
DBT_QUEUE = "dbt"
WORKER_NAME_VARIABLE = "CORD_CELERY_WORKER_NAME"


@dataclass(frozen=True)
class Worker:
    name: str
    queue: str
    concurrency: int  # task processes at once (each a Python with Airflow; this machine has 2 cores)

    @property
    def hostname(self) -> str:
        return f"{self.name}@{socket.gethostname()}"


def worker_hostname() -> str:
    """Airflow's ``[core] hostname_callable`` in a worker's tasks: the worker's Celery host name."""
    return os.environ[WORKER_NAME_VARIABLE]


class CeleryWorkers:
    def __init__(self, stack: Stack, dbt_queue: str = DBT_QUEUE) -> None:
        self.stack = stack
        self.dbt_queue = dbt_queue
        self.redis = stack.redis
        default, dbt = CELERY_WORKERS
        self.workers = (Worker(default, DEFAULT_QUEUE, 4), Worker(dbt, dbt_queue, 2))
        self.processes = stack.celery_workers

    def environment(self) -> dict[str, str]:
        """What every Airflow process of this mode needs (the broker URL holds Redis's password)."""
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            # Sending a task to Redis on a loaded machine can take longer than the default second.
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "30",
            # Redis hands a task that is not acknowledged within this to another worker: longer than a
            # task may run (the DAG's execution_timeout, 2 h).
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            DBT_QUEUE_VARIABLE: self.dbt_queue,
        }

    def start(self, env: dict[str, str]) -> None:
        """Start Redis and wait for it, then start the workers (``not_ready`` tells when they answer)."""
        self.redis.start()
        airflow = airflow_command()
        for index, worker in enumerate(self.workers):
            workdir = self.stack.dir / "celery" / worker.name
            (workdir / "tmp").mkdir(parents=True, exist_ok=True)
            argv = [*airflow, "celery", "worker", "--queues", worker.queue]
            argv += ["--concurrency", str(worker.concurrency), "--celery-hostname", worker.hostname]
            self.processes[worker.name].start(
                [*argv, "--skip-serve-logs"],
                env={
                    **env,
                    WORKER_NAME_VARIABLE: worker.hostname,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
                    "TMPDIR": str(workdir / "tmp"),
                    # Two workers on one host: each its own log server port (CORD_STACK_CELERY_LOGS_PORT).
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.stack.ports.celery_logs + index),
                },
                cwd=workdir,
            )

    def not_ready(self) -> list[str]:
        """The workers that do not answer a ping through the broker yet."""
        from celery import Celery

        app = Celery(broker=self.redis.url)
        try:
            replies = app.control.ping(destination=[w.hostname for w in self.workers], timeout=1.0)
        except Exception:  # the broker not answering means no worker does
            replies = []
        finally:
            app.close()
        answered = {hostname for reply in replies for hostname in reply}
        return [w.name for w in self.workers if w.hostname not in answered]


def from_env(stack: Stack) -> CeleryWorkers | None:
    """The Celery workers when ``CORD_AIRFLOW_EXECUTOR=celery``; none for the LocalExecutor (the default)."""
    executor = os.environ.get(EXECUTOR_VARIABLE, "").strip().lower() or "local"
    if executor == "local":
        return None
    if executor == "celery":
        return CeleryWorkers(stack, os.environ.get(DBT_QUEUE_VARIABLE) or DBT_QUEUE)
    raise StackError(f"{EXECUTOR_VARIABLE}={executor!r}: use local (the default) or celery")
