"""The virtualenvs hold their compiled bytecode. uv, unlike pip, leaves compiling to the first import, and
an interpreter under PYTHONDONTWRITEBYTECODE (as set on the machines that run this suite) never writes
it: every task start then compiled Airflow from source, and every dbt process dbt (docs/benchmark.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from include.cdc.settings import DEFAULT_DBT_EXECUTABLE

# Imports the modules named on its command line, then lists those of its site-packages without bytecode.
PROBE = """
import importlib.util, json, os, sys, sysconfig
for name in sys.argv[1:]:
    __import__(name)
site = sysconfig.get_paths()["purelib"]
files = [getattr(module, "__file__", None) or "" for module in list(sys.modules.values())]
print(json.dumps([
    f for f in files
    if f.startswith(site) and f.endswith(".py") and not os.path.exists(importlib.util.cache_from_source(f))
]))
"""


@pytest.mark.parametrize(
    ("python", "modules"),
    [
        (sys.executable, ["airflow.sdk.execution_time.task_runner", "cosmos"]),
        (str(DEFAULT_DBT_EXECUTABLE.with_name("python")), ["dbt.cli.main"]),
    ],
    ids=["a task start", "a dbt process"],
)
def test_every_module_an_interpreter_imports_has_compiled_bytecode(python, modules):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    probe = subprocess.run([python, "-c", PROBE, *modules], env=env, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    missing = json.loads(probe.stdout)
    assert not missing, (
        f"{len(missing)} modules would be compiled from source at every start, for example {missing[:3]}: "
        "the Makefile installs with `uv pip install --compile-bytecode`, which compiles only what it "
        "installs: a venv from before that is rebuilt by `rm -rf .venv .venv-dbt && make install`"
    )
