"""Shared test setup.

Integration tests use a stack of their own (``.stack-tests/``, ports apart from the demo's), so the
suite and a running demo do not meet. Airflow reads its configuration when first imported, so the
environment of that stack is set here, before any test module imports Airflow; tests that only parse
the DAG do not use its database.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TEST_STACK = {
    "CORD_STACK_DIR": str(REPO / ".stack-tests"),
    "CORD_STACK_POSTGRES_PORT": "26432",
    "CORD_STACK_KAFKA_PORT": "29192",
    "CORD_STACK_S3_PORT": "28433",
    "CORD_STACK_CONNECT_PORT": "28183",
    "CORD_STACK_SMTP_PORT": "28125",
    "CORD_STACK_AIRFLOW_PORT": "28180",
}
for name, value in TEST_STACK.items():
    os.environ.setdefault(name, value)

from devstack.services import Stack  # noqa: E402 (needs the variables above)

os.environ.update(Stack().airflow_env())
os.environ.update(
    {
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "1",
    }
)
