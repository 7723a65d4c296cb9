"""``include/dbt/bin/dbt-task <dbt arguments>``: tie dbt to its task, take the build lock, become dbt.

The real dbt is ``CORD_DBT_EXECUTABLE`` (set by include/cdc/airflow/dbt_group.py; else
``PRODUCT_CDC_DBT_EXECUTABLE``'s, by default the dbt of the project's ``.venv-dbt``). This program runs with
Airflow's interpreter and imports no dbt: it execs dbt's own program, in dbt's own virtualenv.
Exit codes besides dbt's own: 75 when the build lock stayed busy, 70 when
the warehouse or the profile could not be used, 71 when the task process was already gone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PARENT = os.getppid()  # first thing: the task process that started us

if __package__ in (None, ""):  # run as a file by dbt-task: the repository is three levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import psycopg  # noqa: E402

from include.cdc.dbt_runner.build_lock import BuildLockBusy, take  # noqa: E402
from include.cdc.dbt_runner.lifetime import ParentGone, die_with_parent  # noqa: E402
from include.cdc.dbt_runner.profile import ProfileError, warehouse_of  # noqa: E402
from include.cdc.settings import Settings  # noqa: E402
from include.cdc.warehouse import WarehouseError  # noqa: E402

# The commands that write to the warehouse, and so run only under the build lock.
LOCKED_COMMANDS = frozenset({"build", "run", "test", "seed", "snapshot", "run-operation", "retry", "clone"})
COMMANDS = LOCKED_COMMANDS | {"parse", "compile", "ls", "list", "deps", "debug", "docs", "source", "show"}
LOCK_BUSY, UNUSABLE, PARENT_GONE = 75, 70, 71


def command_of(args: list[str]) -> str | None:
    """dbt's subcommand: the first argument that names one (global flags and their values come first)."""
    return next((arg for arg in args if arg in COMMANDS), None)


def real_dbt() -> str:
    return os.environ.get("CORD_DBT_EXECUTABLE") or Settings.from_env().dbt_executable


def lock_name() -> str:
    """What pg_stat_activity shows for the lock's session: the task that holds it."""
    task = os.environ.get("AIRFLOW_CTX_TASK_ID", "")
    run = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID", "")
    return f"dbt build lock: {task} {run}".strip() if task else f"dbt build lock: pid {os.getpid()}"


def prepare(args: list[str]) -> psycopg.Connection | None:
    """Tie this process to the task and, for a command that writes, take the build lock: the session
    that holds it, to keep open (and referenced) until dbt replaces this program. Exits when dbt may not
    start, with one of the codes above."""
    try:
        die_with_parent(PARENT)
        if command_of(args) not in LOCKED_COMMANDS:
            return None
        session = take(warehouse_of(args), Settings.from_env().dbt_lock_wait_seconds, lock_name())
        os.set_inheritable(session.fileno(), True)  # dbt keeps the lock's session open, unused
        return session
    except BuildLockBusy as exc:
        print(exc, file=sys.stderr, flush=True)
        raise SystemExit(LOCK_BUSY) from None
    except (ProfileError, WarehouseError) as exc:
        print(f"dbt did not start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(UNUSABLE) from None
    except ParentGone as exc:
        print(exc, file=sys.stderr, flush=True)
        raise SystemExit(PARENT_GONE) from None


def become_dbt(args: list[str]) -> None:
    """dbt from here on: this pid, its output, its signals and its exit code."""
    executable = real_dbt()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(executable, [executable, *args])  # noqa: S606 (no shell: the arguments are Cosmos's)


if __name__ == "__main__":
    lock_session = prepare(sys.argv[1:])  # referenced until exec: collected, it would free the lock
    become_dbt(sys.argv[1:])
