"""Compile the dbt staging models with no database, in dbt's own virtualenv (devstack/sqllint.py runs
this file with that virtualenv's interpreter: Airflow's environment holds no dbt).

    .venv-dbt/bin/python -I devstack/dbt_compile_offline.py RUN TARGET_PATH

RUN is ``first_build`` (every model's table missing) or ``incremental`` (every model's table present).
dbt asks the database only which relations exist: here the relation cache stays empty, ``get_relation``
answers as RUN says, and opening a connection is an error, so this never reaches a warehouse.
It imports dbt and the standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

DBT_DIR = Path(__file__).resolve().parents[1] / "include" / "dbt"
STAGING = "models/staging"


def compile_offline(run: str, target: Path) -> int:
    from dbt.adapters.base.impl import BaseAdapter
    from dbt.adapters.postgres.connections import PostgresConnectionManager
    from dbt.cli.main import dbtRunner

    incremental = run == "incremental"

    def set_relations_cache(self, *args, **kwargs) -> None:
        return None

    def get_relation(self, database, schema, identifier):
        if not incremental:
            return None
        return self.Relation.create(database=database, schema=schema, identifier=identifier, type="table")

    def refuse_to_connect(cls, connection):
        raise RuntimeError("devstack.sqllint compiles dbt models without a database; something asked for one")

    BaseAdapter.set_relations_cache = set_relations_cache
    BaseAdapter.get_relation = get_relation
    PostgresConnectionManager.open = classmethod(refuse_to_connect)

    result = dbtRunner().invoke(
        [
            "compile",
            "--quiet",
            "--project-dir", str(DBT_DIR),
            "--profiles-dir", str(DBT_DIR),
            "--target-path", str(target),
            "--select", f"resource_type:model,path:{STAGING}",
        ]
    )  # fmt: skip
    if not result.success:
        print(f"dbt could not compile the staging models ({run}): {result.exception}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(compile_offline(sys.argv[1], Path(sys.argv[2])))
