"""What every server of the stack does alike: start unless it already answers, taking its ports first
(a port another process holds is named with the variable that moves it, rather than waited on), wait
until it is ready, and stop."""

from __future__ import annotations

from pathlib import Path

from devstack.stack.process import Process, answers_tcp, claim_ports, wait_until


class Service:
    name: str  # as messages name it
    port_variable: str  # the variable that chooses its ports
    ready_seconds: float = 30
    port: int
    log: Path

    def ports(self) -> list[int]:
        """The ports it listens on, the one that answers first."""
        return [self.port]

    def running(self) -> bool:
        raise NotImplementedError

    def answers(self) -> bool:
        return answers_tcp(self.ports()[0])

    def launch(self) -> None:
        raise NotImplementedError

    def ready(self) -> None:
        """What a fresh start does once the server answers."""

    def start(self) -> None:
        if self.running():
            return
        claim_ports(self.name, self.ports(), self.port_variable)
        self.launch()
        wait_until(self.answers, self.name, self.ready_seconds, self.log)
        self.ready()

    def stop(self) -> bool:
        raise NotImplementedError


class ProcessService(Service):
    """A server that is one detached process of the stack's, with its pid file and log."""

    cwd: Path | None = None

    def __init__(self, process_name: str, stack_dir: Path) -> None:
        self.process = Process(process_name, stack_dir)
        self.log = self.process.log

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def prepare(self) -> None:
        """What the server needs on disk before it starts."""

    def running(self) -> bool:
        return self.process.pid() is not None and answers_tcp(self.ports()[0])

    def launch(self) -> None:
        self.prepare()
        self.process.start(self.argv(), env=self.env(), cwd=self.cwd)

    def stop(self) -> bool:
        return self.process.stop()
