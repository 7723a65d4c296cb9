"""Detached server processes: started with a pid file and a log under the stack directory, waited for
until they answer, stopped with every process they started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from devstack.stack.config import HOST, STACK_DIR, StackError


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def answers_tcp(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], what: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: S110 (not ready yet: any failure means "try again")
            pass
        time.sleep(0.2)
    raise StackError(f"{what} did not become ready within {timeout:g} s{log_tail(log)}")


def log_tail(log: Path | None, lines: int = 15) -> str:
    if not log or not log.exists():
        return ""
    last = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n  last lines of {log}:\n    " + "\n    ".join(last)


class Process:
    """One detached server process with a pid file and a log."""

    def __init__(self, name: str, stack_dir: Path = STACK_DIR) -> None:
        self.name = name
        self.pid_file = stack_dir / "run" / f"{name}.pid"
        self.log = stack_dir / "logs" / f"{name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return None  # our own child, and it has exited (now reaped)
        except ChildProcessError:
            pass  # started by another process: only signal 0 can tell
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return None
        return pid

    def start(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))

    def stop(self, timeout: float = 10) -> bool:
        return bool(stop_processes([self], timeout))


def stop_processes(processes: list[Process], timeout: float = 10) -> list[str]:
    """Stop the processes together, each with every process it started, and name those that were running.

    Descendants are listed before anything is signalled: a child that left the process group (a task's
    own session, a dbt subprocess) is reparented once its parent exits and could not be found then.
    Each gets SIGTERM, and SIGKILL when it is still there after ``timeout``.
    """
    import psutil

    running, family = [], []
    for process in processes:
        pid = process.pid()
        process.pid_file.unlink(missing_ok=True)
        if pid is None:
            continue
        running.append(process.name)
        try:
            leader = psutil.Process(pid)
            family += [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=timeout)
    return running


def claim_ports(name: str, ports: list[int], variable: str) -> None:
    taken = [p for p in ports if not port_is_free(p)]
    if taken:
        raise StackError(
            f"cannot start {name}: port(s) {taken} on {HOST} are taken by another process. "
            f"Stop it, or choose other ports with {variable}."
        )
