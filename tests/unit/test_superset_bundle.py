"""The dashboard as code (include/superset) is one consistent Superset bundle that holds no password and
reads only the marts; the stack's Superset configuration and ports are what devstack promises."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
import yaml

from devstack.stack.config import HOST, Ports, Secrets
from devstack.stack.superset import CACHE_SECONDS, config_text
from devstack.stacks import STACKS, stack_env
from devstack.superset import bundle

BIG_NUMBER = "Active products"  # the chart the browser test reads


def load(kind: str) -> dict[str, dict]:
    return {
        str(p.relative_to(bundle.FOLDER)): yaml.safe_load(p.read_text())
        for p in sorted((bundle.FOLDER / kind).rglob("*.yaml"))
    }


def test_every_reference_in_the_bundle_resolves_and_every_uuid_is_unique():
    databases, datasets = load("databases"), load("datasets")
    charts, dashboards = load("charts"), load("dashboards")
    uuids = [c["uuid"] for kind in (databases, datasets, charts, dashboards) for c in kind.values()]
    assert len(uuids) == len(set(uuids))
    assert {d["database_uuid"] for d in datasets.values()} <= {d["uuid"] for d in databases.values()}
    assert {c["dataset_uuid"] for c in charts.values()} <= {d["uuid"] for d in datasets.values()}
    (dashboard,) = dashboards.values()
    placed = {p["meta"]["uuid"] for p in dashboard["position"].values() if isinstance(p, dict) and "meta" in p
              and "uuid" in p["meta"]}  # fmt: skip
    assert placed == {c["uuid"] for c in charts.values()}
    assert yaml.safe_load((bundle.FOLDER / "metadata.yaml").read_text())["version"] == "1.0.0"


def test_the_bundle_holds_no_password_and_reads_only_the_marts():
    (database,) = load("databases").values()
    assert f":{bundle.MASK}@" in database["sqlalchemy_uri"]
    assert database["allow_dml"] is False
    for name, dataset in load("datasets").items():
        assert dataset["schema"] == "marts", name
        relations = re.findall(r"\b(?:from|join)\s+([a-z_]+)\.", (dataset["sql"] or "").lower())
        assert set(relations) <= {"marts"}, name


def test_the_big_number_counts_dim_product_and_every_chart_can_be_queried_through_the_api():
    datasets = {d["uuid"]: d for d in load("datasets").values()}
    charts = {c["slice_name"]: c for c in load("charts").values()}
    big = charts[BIG_NUMBER]
    assert big["viz_type"] == "big_number_total"
    assert datasets[big["dataset_uuid"]]["table_name"] == "dim_product"
    count = {m["metric_name"]: m for m in datasets[big["dataset_uuid"]]["metrics"]}[big["params"]["metric"]]
    assert count["expression"] == "COUNT(*)"
    for name, chart in charts.items():  # /api/v1/chart/<id>/data/ answers only with a saved query context
        context = json.loads(chart["query_context"])
        metrics = {m["metric_name"] for m in datasets[chart["dataset_uuid"]]["metrics"]}
        assert set(context["queries"][0]["metrics"]) <= metrics, name


def test_the_zip_points_the_database_at_the_stack_and_refuses_a_clear_password():
    uri = f"postgresql+psycopg2://bi_reader:{bundle.MASK}@{HOST}:25432/wh_x"
    with zipfile.ZipFile(io.BytesIO(bundle.build(sqlalchemy_uri=uri))) as zipped:
        names = zipped.namelist()
        assert all(n.startswith(f"{bundle.ROOT}/") for n in names)
        (database_file,) = bundle.database_files()
        assert yaml.safe_load(zipped.read(f"{bundle.ROOT}/{database_file}"))["sqlalchemy_uri"] == uri
    assert f"{bundle.ROOT}/metadata.yaml" in names
    with pytest.raises(ValueError, match="masked"):
        bundle.build(sqlalchemy_uri=uri.replace(bundle.MASK, "secret"))


def test_the_configuration_binds_to_loopback_and_caches_data_for_a_day(tmp_path):
    secrets_ = Secrets.load_or_create(tmp_path)
    text = config_text(tmp_path, 28090, 25432, secrets_)
    namespace: dict = {}
    exec(compile(text, "superset_config.py", "exec"), namespace)  # noqa: S102 (our own generated file)
    assert namespace["SUPERSET_WEBSERVER_ADDRESS"] == HOST
    assert namespace["SECRET_KEY"] == secrets_.superset_secret_key
    for cache in ("DATA_CACHE_CONFIG", "CACHE_CONFIG"):
        assert namespace[cache]["CACHE_DEFAULT_TIMEOUT"] == CACHE_SECONDS == 86400
    assert secrets_.superset_admin_password not in text


def test_every_stack_has_a_superset_port_of_its_own_below_the_ephemeral_range():
    ports = [int(stack_env(name)["CORD_STACK_SUPERSET_PORT"]) for name in STACKS] + [Ports().superset]
    assert len(set(ports)) == len(ports)
    for name in STACKS:
        taken = [int(v) for k, v in stack_env(name).items() if k.endswith("_PORT")]
        assert len(set(taken)) == len(taken), name
    assert max(ports) < 32768


def test_the_age_of_the_newest_change_is_never_shown_from_a_days_cache():
    (freshness,) = [d for d in load("datasets").values() if "now()" in (d["sql"] or "")]
    assert 0 < freshness["cache_timeout"] <= 60 < CACHE_SECONDS
