"""The failed run's email, built from plain data: no Airflow running, no SMTP server."""

from __future__ import annotations

import json

from include.cdc.airflow import alerts
from include.cdc.airflow.alerts import FailedTask

RUN = "scheduled__2026-12-06T00:00:00+00:00"
BASE = "http://airflow.cord.local:8080/"
DBT_TEST = "relationships_stg_product_availability_product_id__product_id__ref_stg_product_"
DBT_LINE = f"{DBT_TEST}: Got 61 results, configured to fail if != 0"


def run_results(*results: tuple[str, str, str | None]) -> dict:
    return {
        "results": [
            {"unique_id": uid, "status": status, "message": message, "failures": 61}
            for uid, status, message in results
        ]
    }


def nodes(*results: tuple[str, str, str | None]) -> list[alerts.DbtNode]:
    return [alerts.DbtNode(uid, status, message or "") for uid, status, message in results]


def test_the_dbt_line_names_the_failing_test_and_its_row_count():
    results = nodes(
        ("model.cord_warehouse.stg_product_availability", "success", "SELECT 120"),
        (f"test.cord_warehouse.{DBT_TEST}.6c1c0f57f2", "fail", "Got 61 results, configured to fail if != 0"),
        ("test.cord_warehouse.not_null_stg_product_product_id.a1b2", "pass", None),
    )
    assert alerts.dbt_failure_line(results) == DBT_LINE
    assert alerts.dbt_failure_line(nodes(("model.p.m", "success", "OK"))) is None


def test_a_model_error_keeps_only_the_first_line_of_dbt_s_message():
    results = nodes(("model.cord_warehouse.dim_product", "error", 'Database Error\n  relation "x" missing'))
    assert alerts.dbt_failure_line(results) == "dim_product: Database Error"


def test_the_cosmos_callback_records_the_line_and_nothing_when_dbt_passed(tmp_path):
    pushed = {}

    class Ti:
        def xcom_push(self, key, value):
            pushed[key] = value

    (tmp_path / "target").mkdir()
    path = tmp_path / "target" / "run_results.json"
    path.write_text(json.dumps(run_results(("model.p.ok", "success", "OK"))))
    alerts.record_dbt_failures(str(tmp_path), context={"ti": Ti()})
    assert pushed == {}
    path.write_text(
        json.dumps(
            run_results((f"test.p.{DBT_TEST}.x", "fail", "Got 61 results, configured to fail if != 0"))
        )
    )
    alerts.record_dbt_failures(str(tmp_path), context={"ti": Ti()})
    assert pushed == {alerts.ERROR_KEY: DBT_LINE}


class FakeTi:
    task_id = "check_connector"

    def __init__(self, recorded=None):
        self.xcom = {} if recorded is None else {alerts.ERROR_KEY: recorded}

    def xcom_pull(self, task_ids, key):
        return self.xcom.get(key)

    def xcom_push(self, key, value):
        self.xcom[key] = value


def test_a_python_task_records_its_exception_s_first_line_and_dbt_s_line_wins():
    ti = FakeTi()
    error = RuntimeError("connector 'sqlserver-product-v2' is RUNNING but task 0 FAILED\n  trace line")
    alerts.record_error({"ti": ti, "exception": error})
    assert ti.xcom[alerts.ERROR_KEY] == "connector 'sqlserver-product-v2' is RUNNING but task 0 FAILED"
    ti = FakeTi(recorded=DBT_LINE)
    alerts.record_error({"ti": ti, "exception": RuntimeError("dbt command failed. non-zero exit code 1.")})
    assert ti.xcom[alerts.ERROR_KEY] == DBT_LINE


def test_one_email_names_every_failed_task_its_line_and_its_log():
    failed = [
        FailedTask(
            "check_connector",
            "connector is RUNNING but task 0 FAILED",
            alerts.log_url(BASE, "d", RUN, "check_connector"),
        ),
        FailedTask(f"dbt.{DBT_TEST}_test", DBT_LINE, alerts.log_url(BASE, "d", RUN, f"dbt.{DBT_TEST}_test")),
        FailedTask("publish_marts", None, alerts.log_url(BASE, "d", RUN, "publish_marts")),
    ]
    assert alerts.failure_subject("d", RUN, 3) == f"[Airflow] d: run {RUN} failed (3 tasks failed)"
    assert alerts.failure_subject("d", RUN, 1).endswith("(1 task failed)")
    body = alerts.failure_html("d", RUN, "task_failure", failed, not_run=9)
    assert body.count("<li>") == 3
    assert "3 tasks failed for good. 9 tasks did not run (upstream failed)." in body
    assert f"<b>dbt.{DBT_TEST}_test</b>: <code>{DBT_LINE}</code>" in body
    assert "no error recorded: see its log" in body
    url = "http://airflow.cord.local:8080/dags/d/runs/scheduled__2026-12-06T00%3A00%3A00%2B00%3A00/tasks/check_connector"
    assert f'<a href="{url}">{url}</a>' in body


def test_error_text_is_html_escaped_and_never_rendered_as_a_template():
    failed = [
        FailedTask(
            "load_bronze", "value <script>alert(1)</script> & {{ conn.password }}", "http://x/?a=1&b=2"
        )
    ]
    body = alerts.failure_html("d", RUN, "task_failure", failed, 0)
    assert "<script>" not in body
    assert "value &lt;script&gt;alert(1)&lt;/script&gt; &amp; {{ conn.password }}" in body
    assert 'href="http://x/?a=1&amp;b=2"' in body


def test_no_secret_reaches_the_recorded_line(monkeypatch):
    from airflow.sdk._shared.secrets_masker import _secrets_masker

    _secrets_masker().add_mask("s3cr3t-Pa55")
    ti = FakeTi()
    alerts.record_error({"ti": ti, "exception": RuntimeError("login failed for cord:s3cr3t-Pa55@warehouse")})
    assert "s3cr3t-Pa55" not in ti.xcom[alerts.ERROR_KEY]
    assert "login failed for cord:" in ti.xcom[alerts.ERROR_KEY]


def test_a_long_line_is_cut():
    assert len(alerts.first_line("x" * 5000)) == alerts.MAX_LINE
