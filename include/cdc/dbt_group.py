"""The dbt stage as a Cosmos task group: one task per model (the model and its tests), read from the
manifest that `make` renders, so that no dbt runs while the DAG file is parsed."""

from __future__ import annotations

from pathlib import Path

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
from cosmos.profiles import PostgresUserPasswordProfileMapping

from include.cdc.settings import Settings

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"


class _LocalManifest(ProjectConfig):
    """Cosmos opens a manifest through Airflow's ObjectStoragePath, whose first use imports every
    provider's filesystem (boto3 among them): half a second of every task start on a busy worker. The
    manifest ships with the DAG, so it is read as the local file it is."""

    def __init__(self, manifest: Path, **kwargs) -> None:
        super().__init__(manifest_path=manifest, **kwargs)
        self.manifest_path = manifest


def dbt_task_group(settings: Settings) -> DbtTaskGroup:
    return DbtTaskGroup(
        group_id="dbt",
        project_config=_LocalManifest(
            MANIFEST, dbt_project_path=DBT_PROJECT, project_name="cord_warehouse", install_dbt_deps=False
        ),
        profile_config=ProfileConfig(
            profile_name="cord_warehouse",
            target_name="airflow",
            profile_mapping=PostgresUserPasswordProfileMapping(
                conn_id=settings.warehouse_conn_id, profile_args={"schema": "staging"}
            ),
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,  # one task per model: dbt build runs it and its tests
            # A test of two models (relationships) runs once both are built, in a task of its own.
            should_detach_multiple_parents_tests=True,
            emit_datasets=False,
        ),
        operator_args={"full_refresh": "{{ params.full_refresh }}"},
    )
