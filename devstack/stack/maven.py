"""The stack's Java servers come from Maven Central: each set of artifacts is resolved once, with its
runtime dependencies, into a cache folder shared by every stack on the machine.

``CORD_STACK_MAVEN_CACHE`` moves the folder (default ``~/.cache/cord-devstack/maven``). A folder is
complete or absent: Maven copies into a temporary folder that is renamed when every jar is there, so a
resolution cut off half-way is simply done again.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devstack.stack.config import StackError

KAFKA_VERSION = "4.3.2"
# docker-compose.override.yml runs Debezium 3.6.0.Final; Maven Central serves its SQL Server connector
# from the patch release 3.6.1.Final on, so the local stack runs that one.
DEBEZIUM_VERSION = "3.6.1.Final"
LOG4J_VERSION = "2.25.5"  # the version kafka_2.13 depends on

CACHE = Path(os.environ.get("CORD_STACK_MAVEN_CACHE", Path.home() / ".cache" / "cord-devstack" / "maven"))

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.cord.devstack</groupId><artifactId>{name}</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""
DEPENDENCY = "<dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></dependency>"


@dataclass(frozen=True)
class Artifacts:
    """Maven coordinates (``group:artifact:version``) resolved together, with their runtime dependencies."""

    name: str
    coordinates: tuple[str, ...]
    exclude_groups: tuple[str, ...] = ()  # provided by the program that loads them (a Connect plugin's Kafka)

    @property
    def folder(self) -> Path:
        key = "\n".join((*self.coordinates, "-", *self.exclude_groups))
        return CACHE / f"{self.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def jars(self) -> list[Path]:
        if not self.folder.is_dir():
            self._resolve()
        return sorted(self.folder.glob("*.jar"))

    def classpath(self) -> str:
        return os.pathsep.join(str(jar) for jar in self.jars())

    def _resolve(self) -> None:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(f"{self.name} comes from Maven Central: install Maven (apt-get install maven)")
        CACHE.mkdir(parents=True, exist_ok=True)
        # One Maven at a time on the machine: two (two test workers' stacks starting together) would
        # write the same files of Maven's local repository at once.
        with (CACHE / ".resolve.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.folder.is_dir():  # resolved by the Maven we waited for
                self._resolve_into_cache(mvn)

    def _resolve_into_cache(self, mvn: str) -> None:
        with tempfile.TemporaryDirectory(dir=CACHE, prefix=f".{self.name}-") as work:
            pom = Path(work) / "pom.xml"
            dependencies = "\n".join(DEPENDENCY.format(*c.split(":")) for c in self.coordinates)
            pom.write_text(POM.format(name=self.name, dependencies=dependencies))
            argv = [mvn, "--batch-mode", "--quiet", "--file", str(pom), "dependency:copy-dependencies"]
            argv += [f"-DoutputDirectory={work}/lib", "-DincludeScope=runtime"]
            if self.exclude_groups:
                argv.append(f"-DexcludeGroupIds={','.join(self.exclude_groups)}")
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = "\n    ".join((done.stdout + done.stderr).strip().splitlines()[-10:])
                wanted = ", ".join(self.coordinates)
                raise StackError(f"Maven could not resolve {self.name} ({wanted}):\n    {tail}")
            (Path(work) / "lib").rename(self.folder)


def log4j2_properties(quiet: dict[str, tuple[str, str]]) -> str:
    """A Java server's log4j2 configuration: INFO to the console (the process log), except the loggers
    in ``quiet`` (``{key: (logger name, level)}``), whose INFO would drown the start and the errors."""
    lines = [
        "status = warn",
        "appender.console.type = Console",
        "appender.console.name = console",
        "appender.console.layout.type = PatternLayout",
        "appender.console.layout.pattern = [%d] %p %m (%c)%n",
        "rootLogger.level = INFO",
        "rootLogger.appenderRef.console.ref = console",
    ]
    for key, (name, level) in quiet.items():
        lines += [f"logger.{key}.name = {name}", f"logger.{key}.level = {level}"]
    return "\n".join(lines) + "\n"


KAFKA = Artifacts(
    "kafka",
    (
        f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
        f"org.apache.kafka:connect-runtime:{KAFKA_VERSION}",
        f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
    ),
)
DEBEZIUM_SQLSERVER = Artifacts(
    "debezium-connector-sqlserver",
    (f"io.debezium:debezium-connector-sqlserver:{DEBEZIUM_VERSION}",),
    exclude_groups=("org.apache.kafka",),
)
