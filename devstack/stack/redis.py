"""Redis, the Celery broker of the CeleryExecutor mode (``CORD_AIRFLOW_EXECUTOR=celery``).

Debian's ``redis-server`` (the Makefile installs it), on loopback with the password generated into the
stack's ``secrets.json``. The password is in a config file of mode 600, never in argv or a log. Redis
keeps only queued task messages here: no snapshot, no append-only file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from devstack.stack.config import HOST, STACK_DIR, Ports, Secrets, StackError
from devstack.stack.service import ProcessService

SERVER = "redis-server"


class Redis(ProcessService):
    name = "Redis"
    port_variable = "CORD_STACK_REDIS_PORT"

    def __init__(self, ports: Ports, secrets_: Secrets, stack_dir: Path = STACK_DIR) -> None:
        super().__init__("redis", stack_dir)
        self.port = ports.redis
        self.password = secrets_.redis_password
        self.root = stack_dir / "redis"

    @property
    def url(self) -> str:
        """The broker URL, password included: only for the environment of Airflow's processes."""
        return f"redis://:{self.password}@{HOST}:{self.port}/0"

    def answers(self) -> bool:
        import redis

        client = redis.Redis(host=HOST, port=self.port, password=self.password, socket_timeout=2)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "redis.conf"
        config.touch(mode=0o600)
        settings = (
            f"bind {HOST}",
            f"port {self.port}",
            "protected-mode yes",
            f"requirepass {self.password}",
            f"dir {self.root}",
            'save ""',
            "appendonly no",
            "daemonize no",
            'logfile ""',
        )
        config.write_text("\n".join(settings) + "\n")

    def argv(self) -> list[str]:
        server = shutil.which(SERVER)
        if server is None:
            raise StackError(
                "the CeleryExecutor mode needs Debian's redis-server: `CORD_AIRFLOW_EXECUTOR=celery make "
                "airflow` installs it (or run 'apt-get install redis-server' as root)"
            )
        return [server, str(self.root / "redis.conf")]
