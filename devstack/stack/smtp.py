"""An SMTP server that keeps every message it receives as a file, so tests can read the alerts.

It requires AUTH (PLAIN or LOGIN) with the credentials given in its environment, like a relay that
takes a user and password from the Airflow SMTP connection; TLS is not offered on loopback. ``SmtpSink``
runs it as a service of the stack (``python -m devstack.stack.smtp``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from devstack.stack.config import HOST, REPO, STACK_DIR, Ports, Secrets
from devstack.stack.service import ProcessService


class SmtpSink(ProcessService):
    name = "the SMTP sink"
    port_variable = "CORD_STACK_SMTP_PORT"
    ready_seconds = 15
    cwd = REPO

    def __init__(self, ports: Ports, secrets_: Secrets, stack_dir: Path = STACK_DIR) -> None:
        super().__init__("smtp-sink", stack_dir)
        self.port = ports.smtp
        self.secrets = secrets_
        self.maildir = stack_dir / "mail"

    def prepare(self) -> None:
        self.maildir.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "devstack.stack.smtp",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--maildir",
            str(self.maildir),
        ]

    def env(self) -> dict[str, str]:
        return {"SMTP_SINK_USER": self.secrets.smtp_user, "SMTP_SINK_PASSWORD": self.secrets.smtp_password}

    def messages(self) -> list[Path]:
        return sorted(self.maildir.glob("*.eml"))


# -- the sink itself (the process SmtpSink starts) --------------------------------------------------


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.count += 1
        name = f"{time.time_ns()}-{self.count}.eml"
        temporary = self.maildir / f".{name}.tmp"
        temporary.write_bytes(envelope.original_content or envelope.content)
        temporary.rename(self.maildir / name)  # readers never see half a message
        return "250 Message accepted for delivery"


def authenticator(user: str, password: str):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == user and auth_data.password.decode() == password
        )
        return AuthResult(success=ok)

    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    args.maildir.mkdir(parents=True, exist_ok=True)
    from aiosmtpd.controller import Controller

    controller = Controller(
        MaildirHandler(args.maildir),
        hostname=args.host,
        port=args.port,
        authenticator=authenticator(os.environ["SMTP_SINK_USER"], os.environ["SMTP_SINK_PASSWORD"]),
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
