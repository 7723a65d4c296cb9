"""Airflow's command line with its log servers on loopback: ``python -m devstack.airflow_cli <airflow args>``.

The local stack starts every Airflow process through this module. The scheduler (for the LocalExecutor's
tasks), the triggerer and Celery workers each start a log server (``airflow serve-logs``), which the API
server asks for the log of a task that is still running or deferred. Airflow lets the stack choose its
port (``[logging] worker_log_server_port``, ``trigger_log_server_port``) but not its address:
``airflow/utils/serve_logs/core.py`` (Airflow 3.3) runs uvicorn with ``host=""``, every interface, IPv4
and IPv6. Here that module, and only that module, gets a uvicorn whose ``run`` binds to loopback.
Airflow still logs ``Starting log server on http://[::]:<port>``; uvicorn's next line, ``Uvicorn
running on http://127.0.0.1:<port>``, is where it listens.

Applied on import, before Airflow starts anything: the log server is a ``multiprocessing`` child, which
inherits it when forked, and re-imports this module as ``__mp_main__`` when spawned.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

import uvicorn
from airflow.utils.serve_logs import core

LOOPBACK = "127.0.0.1"  # devstack.stack.config.HOST (not imported: it reads the stack's variables)


def log_server_host() -> str:
    """Where the log server listens: the API server asks ``http://<the task's host name>:<port>``, so the
    loopback address that name resolves to (Debian gives its host 127.0.1.1), and 127.0.0.1 otherwise."""
    from airflow.utils.net import get_hostname

    try:
        address = socket.gethostbyname(get_hostname())
    except (OSError, UnicodeError):
        return LOOPBACK
    return address if ipaddress.ip_address(address).is_loopback else LOOPBACK


class LoopbackUvicorn:
    """uvicorn as ``serve_logs`` sees it: ``run`` binds to ``host`` whatever it is given."""

    def __init__(self, host: str) -> None:
        self.host = host

    def __getattr__(self, name: str):
        return getattr(uvicorn, name)

    def run(self, app, **options):
        return uvicorn.run(app, **{**options, "host": self.host})


core.uvicorn = LoopbackUvicorn(log_server_host())


def main() -> None:
    from airflow.__main__ import main as airflow_main

    sys.argv[0] = "airflow"
    airflow_main()


if __name__ == "__main__":
    main()
