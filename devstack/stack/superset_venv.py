"""Superset's own virtual environment: its pins conflict with Airflow's, so it never shares the repo's.

The versions are the lock file's (``devstack/superset/requirements.txt``), installed by uv without
resolving. The venv lives in a cache folder shared by every stack on the machine, named after the lock
file's hash and the Python version, so a fresh clone builds it once and a changed lock file builds a new
one. ``CORD_STACK_SUPERSET_CACHE`` moves the folder (default ``~/.cache/cord-devstack/superset``). A venv
is complete or absent: uv installs into a temporary folder that is renamed when it is done (uv's
``--relocatable`` scripts keep working after the rename).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from devstack.stack.config import REPO, StackError

LOCK = REPO / "devstack" / "superset" / "requirements.txt"
CACHE = Path(
    os.environ.get("CORD_STACK_SUPERSET_CACHE", Path.home() / ".cache" / "cord-devstack" / "superset")
)


# The lock file's pins exactly; compiled at install, as the Makefile's venvs (no interpreter of Superset's
# gunicorn compiles it from source again).
INSTALL_OPTIONS = ("--no-deps", "--compile-bytecode")


def lock_key() -> str:
    """What names the venv: the pins, how they were installed and the interpreter they were installed for."""
    named = LOCK.read_bytes() + " ".join(INSTALL_OPTIONS).encode() + sys.version.encode()
    return hashlib.sha256(named).hexdigest()[:12]


def folder() -> Path:
    return CACHE / f"venv-{lock_key()}"


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"  # the Makefile installs uv into the repo's venv
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        raise StackError("Superset's venv is built with uv: run `make install` (it installs uv)")
    return found


def ensure() -> Path:
    """The venv's folder, built first when the cache has none for this lock file."""
    venv = folder()
    if (venv / "bin" / "superset").exists():
        return venv
    CACHE.mkdir(parents=True, exist_ok=True)
    uv = _uv()
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".venv-") as work:
        target = Path(work) / "venv"
        steps = (
            [uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(target)],
            [
                uv,
                "pip",
                "install",
                "--quiet",
                *INSTALL_OPTIONS,
                "-r",
                str(LOCK),
                "--python",
                str(target / "bin" / "python"),
            ],
        )
        for argv in steps:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                tail = "\n    ".join((done.stdout + done.stderr).strip().splitlines()[-10:])
                raise StackError(f"installing Superset ({LOCK.name}) failed:\n    {tail}")
        try:
            target.rename(venv)
        except OSError:
            if not venv.is_dir():
                raise
            # another stack built the same venv meanwhile: theirs is complete
    return venv
