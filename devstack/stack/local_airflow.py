"""A real Airflow on the local stack: API server, scheduler, DAG processor and triggerer (and, in the
CeleryExecutor mode, Redis and two Celery workers: devstack.stack.celery_workers).

Deadline Alerts are evaluated only by a scheduler and their callbacks run only in a triggerer, so this
is what the alert tests run against, and what ``python -m devstack airflow`` starts for trying the DAG
in the UI (manual runs with the params form). The metadata database is the stack's PostgreSQL.

Every Airflow process starts through ``devstack.airflow_cli``, so that the log servers of the scheduler
and the triggerer listen on loopback, on the stack's ports (``CORD_STACK_WORKER_LOG_PORT``,
``CORD_STACK_TRIGGER_LOG_PORT``) rather than on every interface at Airflow's fixed 8793 and 8794.
"""

from __future__ import annotations

import os
import secrets
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from urllib.parse import quote

import requests

from devstack.stack import celery_workers
from devstack.stack.celery_workers import CeleryWorkers
from devstack.stack.config import HOST, StackError, airflow_command
from devstack.stack.process import claim_ports, log_tail, stop_processes, wait_until
from devstack.stack.stack import Stack

API_PORT = int(os.environ.get("CORD_STACK_AIRFLOW_PORT", "28080"))
# Four Airflow processes and their first DAG parses on a busy 2-core machine can take minutes: the wait
# ends early when a process exits, so a generous limit costs nothing when something is wrong.
READY_TIMEOUT = float(os.environ.get("CORD_STACK_AIRFLOW_READY_SECONDS", "600"))
HEALTH_REPORTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
# A busy API server answers late: seen here, 5 to 22 s while tasks start on a loaded 2-core machine.
API_TIMEOUT = 120


class AirflowServices:
    def __init__(
        self,
        stack: Stack,
        extra_env: dict[str, str] | None = None,
        port: int = API_PORT,
        scheduled_runs: bool = False,
        workers: CeleryWorkers | None = None,
    ) -> None:
        self.stack = stack
        self.port = port
        self.extra_env = extra_env or {}
        self.scheduled_runs = scheduled_runs
        self.workers = workers  # None: the LocalExecutor
        self.processes = {**stack.airflow, **(workers.processes if workers else {})}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def environment(self) -> dict[str, str]:
        jwt_file = self.stack.dir / "airflow" / ".jwt_secret"
        if not jwt_file.exists():
            jwt_file.parent.mkdir(parents=True, exist_ok=True)
            jwt_file.touch(mode=0o600)
            jwt_file.write_text(secrets.token_urlsafe(32))
        return {
            **self.stack.airflow_env(),
            "AIRFLOW__API__HOST": HOST,
            # Where the log servers listen and where the API server asks them for a running task's log.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.stack.ports.worker_log),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.stack.ports.trigger_log),
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt_file.read_text(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            # Off unless asked for: unpaused at creation, the DAG would start the latest 6-hour interval's
            # run at once and hold its only run slot, so a run triggered from the UI would wait behind it.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(self.scheduled_runs),
            # Runs on new changes go with the scheduled runs: the scheduler creates them on the same
            # switch, and without it the triggerer would watch Kafka for runs that never start.
            "PRODUCT_CDC_RUN_ON_NEW_CHANGES": str(self.scheduled_runs).lower(),
            **(self.workers.environment() if self.workers else {}),
            **self.extra_env,
        }

    def start(self) -> None:
        """Start the four processes and wait until each reports healthy; on any failure (Ctrl-C included),
        stop what was started."""
        claim_ports("the Airflow API server", [self.port], "CORD_STACK_AIRFLOW_PORT")
        ports = self.stack.ports
        for name, port in (("worker", ports.worker_log), ("trigger", ports.trigger_log)):
            claim_ports(f"Airflow's {name} log server", [port], f"CORD_STACK_{name.upper()}_LOG_PORT")
        settled = fail_leftover_runs()
        if settled:
            print(f"marked {settled} run(s) left unfinished by a killed dag.test() as failed")
        env = self.environment()
        airflow = airflow_command()
        try:
            if self.workers:
                self.workers.start(env)
            for name, process in self.stack.airflow.items():
                args = [*airflow, name] + (
                    ["--port", str(self.port), "--host", HOST] if name == "api-server" else []
                )
                process.start(args, env=env)
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_until_healthy(self, progress_every: float = 15) -> None:
        started = time.monotonic()
        reported = 0.0
        while waiting := self._not_yet_healthy():
            exited = [name for name, process in self.processes.items() if process.pid() is None]
            if exited:
                tail = log_tail(self.processes[exited[0]].log)
                raise StackError(f"Airflow's {', '.join(exited)} exited while starting{tail}")
            elapsed = time.monotonic() - started
            if elapsed > READY_TIMEOUT:
                raise StackError(
                    f"Airflow's {', '.join(waiting)} not healthy after {READY_TIMEOUT:g} s "
                    f"(CORD_STACK_AIRFLOW_READY_SECONDS); logs in {self.stack.dir / 'logs'}"
                )
            if elapsed - reported >= progress_every:
                print(f"  waiting for Airflow's {', '.join(waiting)} ({elapsed:.0f} s)", flush=True)
                reported = elapsed
            time.sleep(0.5)

    def _not_yet_healthy(self) -> list[str]:
        """What the API's health endpoint does not report healthy yet (all of it while it does not answer)."""
        try:
            report = requests.get(f"{self.url}/api/v2/monitor/health", timeout=API_TIMEOUT).json()
        except (requests.RequestException, ValueError):
            return ["api-server", *HEALTH_REPORTS[1:]]
        waiting = [name for name in HEALTH_REPORTS if (report.get(name) or {}).get("status") != "healthy"]
        return waiting + (self.workers.not_ready() if self.workers else [])

    def stop(self) -> None:
        stop_processes(list(self.processes.values()))
        if self.workers:
            self.workers.redis.stop()

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        """Wait until the DAG processor has serialized the DAG, then unpause it."""

        def parsed() -> bool:
            return requests.get(f"{self.url}/api/v2/dags/{dag_id}", timeout=API_TIMEOUT).status_code == 200

        wait_until(parsed, f"DAG {dag_id} in the DAG processor", timeout, self.processes["dag-processor"].log)
        self.set_paused(dag_id, False)

    def trigger(self, dag_id: str, run_id: str, conf: dict | None = None) -> None:
        """Trigger a run as the UI's Trigger form does: its logical date is now (so its deadline is set)."""
        logical_date = datetime.now(UTC).isoformat()
        response = requests.post(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": logical_date, "conf": conf or {}},
            timeout=API_TIMEOUT,
        )
        if response.status_code >= 300:
            raise StackError(f"triggering {dag_id} failed: HTTP {response.status_code} {response.text}")

    def run_state(self, dag_id: str, run_id: str) -> str:
        response = requests.get(f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}", timeout=API_TIMEOUT)
        response.raise_for_status()
        return response.json()["state"]

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
        """Each task of the run: its state and try number, as the API reports them."""
        response = requests.get(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances",
            params={"limit": 100},
            timeout=API_TIMEOUT,
        )
        response.raise_for_status()
        return {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in response.json()["task_instances"]}

    def run_timeline(self, dag_id: str, run_id: str) -> dict:
        """A finished run: its wall time from queued to its end, and each task's queued, start and end
        time in seconds after the run was queued (a deferred task's queued time is its resumption's)."""
        url = f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}"
        run = requests.get(url, timeout=API_TIMEOUT).json()
        answer = requests.get(f"{url}/taskInstances", params={"limit": 100}, timeout=API_TIMEOUT).json()
        queued = datetime.fromisoformat(run["queued_at"])

        def after_queued(value: str | None) -> float | None:
            return round((datetime.fromisoformat(value) - queued).total_seconds(), 2) if value else None

        tasks = {
            ti["task_id"]: {
                "state": ti["state"],
                "queued": after_queued(ti["queued_when"]),
                "start": after_queued(ti["start_date"]),
                "end": after_queued(ti["end_date"]),
                "seconds": round(ti["duration"] or 0.0, 2),
            }
            for ti in sorted(answer["task_instances"], key=lambda ti: ti["start_date"] or "")
        }
        ran = [t["seconds"] for t in tasks.values() if t["seconds"] > 0]  # not the producer's gateway
        return {
            "state": run["state"],
            "wall_seconds": after_queued(run["end_date"]),
            "task_starts": len(ran),
            "task_seconds_sum": round(sum(ran), 2),
            "task_seconds_median": round(statistics.median(ran), 2) if ran else None,
            "tasks": tasks,
        }

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """The run's state once it has finished (or its current state when ``timeout`` runs out)."""
        deadline = time.monotonic() + timeout
        while (state := self.run_state(dag_id, run_id)) not in {"success", "failed"}:
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        return state

    def runs_of(self, dag_id: str, run_type: str, since: datetime) -> list[dict]:
        """The DAG's runs of ``run_type`` queued since ``since``, the newest first (the stack's metadata
        database outlives a session)."""
        response = requests.get(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns",
            params={"limit": 100, "order_by": "-id", "run_type": run_type},
            timeout=API_TIMEOUT,
        )
        response.raise_for_status()
        return [
            r
            for r in response.json()["dag_runs"]
            if r["queued_at"] and datetime.fromisoformat(r["queued_at"]) >= since
        ]

    def fail_the_due_cron_run(self, dag_id: str, since: datetime) -> None:
        """With scheduled runs on, the scheduler starts the cron's run of the latest boundary at once when
        the DAG is unpaused soon after it (CronTriggerTimetable's ``run_immediately``). Failed through the
        API, it holds no run slot and takes no records; the caller then triggers the runs it measures."""
        details = requests.get(f"{self.url}/api/v2/dags/{dag_id}/details", timeout=API_TIMEOUT)
        details.raise_for_status()
        due = details.json()["next_dagrun_run_after"]
        if not self.runs_of(dag_id, "scheduled", since) and not (
            due and datetime.fromisoformat(due) <= datetime.now(UTC)
        ):
            return
        wait_until(lambda: self.runs_of(dag_id, "scheduled", since), "the scheduled run", timeout=180)
        (scheduled,) = self.runs_of(dag_id, "scheduled", since)
        url = f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{quote(scheduled['dag_run_id'])}"

        def fail() -> requests.Response:
            return requests.patch(url, json={"state": "failed"}, timeout=API_TIMEOUT)

        response = fail()
        if response.status_code == 500 and self.run_state(dag_id, scheduled["dag_run_id"]) != "failed":
            # The scheduler was scheduling the new run's tasks, and PostgreSQL ended its update of the run
            # and the API's in a deadlock (seen on a loaded machine). It leaves a paused DAG's runs alone:
            # asked again while the DAG is paused, the API meets no other writer.
            self.set_paused(dag_id, True)
            try:
                response = fail()
            finally:
                self.set_paused(dag_id, False)
        response.raise_for_status()
        wait_until(lambda: self.run_state(dag_id, scheduled["dag_run_id"]) == "failed", "failed", 60)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        response = requests.patch(
            f"{self.url}/api/v2/dags/{dag_id}", json={"is_paused": paused}, timeout=API_TIMEOUT
        )
        response.raise_for_status()


def fail_leftover_runs() -> int:
    """Mark failed the runs an in-process ``dag.test()`` left queued or running when its process was
    killed (the crash tests kill it on purpose). A real scheduler would pick them up and hold the DAG's
    only run slot with them, so a run triggered now would wait behind runs nobody is watching."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    with create_session() as session:
        unfinished = session.scalars(
            select(DagRun).where(DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]))
        ).all()
        for run in unfinished:
            run.set_state(DagRunState.FAILED)
    return len(unfinished)


def serve(stack: Stack, scheduled_runs: bool = False) -> None:
    """Run Airflow in the foreground until Ctrl-C or SIGTERM (``python -m devstack airflow``)."""
    # Ctrl-C and SIGTERM stop what was started, also when started from a shell that ignores SIGINT
    # (a background job of a script, which Python would leave ignored).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    workers = celery_workers.from_env(stack)
    services = AirflowServices(stack, scheduled_runs=scheduled_runs, workers=workers)
    try:
        services.start()
        schedule = (
            "runs every 6 hours and on new changes"
            if scheduled_runs
            else "scheduled runs off: only the runs you trigger"
        )
        print(f"Airflow is up at {services.url}", flush=True)
        if workers:
            queues = ", ".join(f"{w.name} (queue {w.queue})" for w in workers.workers)
            print(f"  CeleryExecutor: Redis on port {workers.redis.port}; workers {queues}", flush=True)
        print(f"  {schedule}; logs in {stack.dir / 'logs'}; Ctrl-C stops it", flush=True)
        while all(p.pid() is not None for p in services.processes.values()):
            time.sleep(1)
        print("an Airflow component exited; see its log", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave processes behind
        print("stopping Airflow")
        services.stop()
