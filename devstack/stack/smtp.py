"""An SMTP server that keeps every message it receives as a file, so tests can read the alerts.

It requires AUTH (PLAIN or LOGIN) with the credentials given in its environment, like a relay that
takes a user and password from the Airflow SMTP connection; TLS is not offered on loopback.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


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
