"""Shared test setup.

Integration tests use a stack of their own (``.stack-tests/``, ports apart from the demo's), so the
suite and a running demo do not meet. Airflow reads its configuration when first imported, so the
environment of that stack is set here, before any test module imports Airflow; tests that only parse
the DAG do not use its database.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from devstack.stacks import stack_env

for name, value in stack_env("tests").items():
    os.environ.setdefault(name, value)  # a variable already set (another checkout's ports) wins

from devstack.stack import Stack  # noqa: E402 (needs the variables above)

os.environ.update(Stack().airflow_env())
os.environ.update(
    {
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "1",
    }
)

# Hypothesis's deadline and its too-slow health check time each example: on a loaded machine they fail
# tests whose behaviour is right. The properties here assert behaviour only.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")
