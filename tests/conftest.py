"""Shared test setup.

Integration tests use a stack of their own (``.stack-tests/``, ports apart from the demo's), so the
suite and a running demo do not meet. Airflow reads its configuration when first imported, so the
environment of that stack is set here, before any test module imports Airflow; tests that only parse
the DAG do not use its database.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from devstack.stacks import stack_env, worker_env

# make test runs the suite on parallel workers (pytest-xdist's PYTEST_XDIST_WORKER: gw0, gw1, ...), each
# with a stack of its own. A variable already set (another checkout's ports) wins for the first worker.
first = {name: os.environ.get(name, value) for name, value in stack_env("tests").items()}
os.environ.update(worker_env(first, int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])))

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


# Modules that share one parallel worker: those that start Superset (the session fixture ``superset``),
# so that one worker starts it once.
SHARED_WORKER = {
    "tests/integration/test_bi_dashboard_browser.py": "superset",
    "tests/integration/test_bi_refresh_on_superset.py": "superset",
    "tests/integration/test_superset.py": "superset",
}


def pytest_xdist_make_scheduler(config, log):
    """On parallel workers (make test) a module's tests run on one worker, so its module fixtures (a real
    Airflow, a built warehouse) are set up once, and the modules of ``SHARED_WORKER`` share one.
    (xdist's ``loadgroup`` marks would say the same, but xdist 3.8 writes the group into a test id that
    pytest 9 no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_WORKER.get(module, module)

    return ModuleScheduling(config, log)
