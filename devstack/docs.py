"""The dbt docs of the local stack's warehouse: ``python -m devstack docs`` (``make docs``).

``dbt docs generate`` reads the catalog (each relation's columns, types and owner) from the warehouse
the models were built in, so the docs describe what is really there. Generating needs the models built
first (``make demo``, or a DAG run): a warehouse without them stops here with a message saying so,
rather than serving docs with an empty catalog. The docs are served on loopback as ``dbt docs serve``
would, by Python's ``http.server``: dbt's server does not set SO_REUSEADDR, so after serving a page it
leaves its port unusable for a minute (TIME_WAIT), to itself as to a rerun.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from devstack.stack import Stack
from devstack.stack.config import HOST, StackError
from devstack.stack.process import Process, answers_tcp, claim_ports, wait_until
from include.cdc.settings import DBT_MANIFEST, Settings

DBT_PROJECT = Path(__file__).resolve().parents[1] / "include" / "dbt"
MANIFEST = DBT_MANIFEST  # `make manifest` builds it
DOCS_PORT = int(os.environ.get("CORD_STACK_DOCS_PORT", "28088"))
DBT = Settings.from_env().dbt_executable  # dbt's own virtualenv (.venv-dbt)


def _project_args(target: Path) -> list[str]:
    return [
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]


def missing_models(stack: Stack, database: str | None = None) -> list[str]:
    """The project's models (``schema.name``, from the manifest) that the warehouse does not hold."""
    nodes = json.loads(MANIFEST.read_text())["nodes"].values()
    models = sorted(f"{n['schema']}.{n['alias']}" for n in nodes if n["resource_type"] == "model")
    with stack.connect_warehouse(database) as conn:
        return [m for m in models if conn.execute("select to_regclass(%s)", (m,)).fetchone()[0] is None]


def generate(stack: Stack, target: Path, database: str | None = None) -> Path:
    """Write the docs (``index.html``, the manifest and the warehouse's catalog) to ``target``."""
    import psycopg

    if not MANIFEST.exists():
        raise StackError(f"no dbt manifest at {MANIFEST}: run `make manifest` first")
    where = f"database {database or stack.connections()['cord_warehouse']['schema']}"
    try:
        missing = missing_models(stack, database)
    except psycopg.OperationalError as exc:
        raise StackError(
            f"cannot reach the warehouse ({where}): is the stack up (`make stack-up`)? {exc}"
        ) from None
    if missing:
        raise StackError(
            f"the warehouse ({where}) has not been built: {', '.join(missing)} missing, so the docs' "
            "catalog would describe nothing. Build it first (`make demo`, or a DAG run from "
            "`make airflow`), then run `make docs` again."
        )
    result = subprocess.run(
        [DBT, "docs", "generate", *_project_args(target)],
        env={**os.environ, **stack.dbt_env(database)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"dbt docs generate failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return target


def _serve_argv(target: Path, port: int) -> list[str]:
    claim_ports("the dbt docs server", [port], "CORD_STACK_DOCS_PORT")
    return [sys.executable, "-m", "http.server", "--bind", HOST, "--directory", str(target), str(port)]


def start_server(stack: Stack, target: Path, port: int = DOCS_PORT) -> Process:
    """A server of the docs in ``target``, in the background, once it answers on loopback."""
    server = Process("dbt-docs", stack.dir)
    server.start(_serve_argv(target, port))
    try:
        wait_until(lambda: answers_tcp(port), "the dbt docs server", 60, server.log)
    except StackError:
        server.stop()
        raise
    return server


def serve(stack: Stack, port: int = DOCS_PORT) -> None:
    """Generate the docs of the stack's warehouse and serve them until Ctrl-C or SIGTERM (``make docs``)."""
    target = generate(stack, stack.dir / "dbt-docs")
    argv = _serve_argv(target, port)
    # Either signal ends the server too (subprocess.run kills it on the way out), also when started from
    # a shell that ignores SIGINT (a script's background job), which the server would otherwise inherit.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    print(f"the dbt docs of the local warehouse (generated in {target}): http://{HOST}:{port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        subprocess.run(argv, check=False)
