"""The bi_refresh task shell: no ``cord_superset`` skips, refused credentials fail at once, and the
connection's fields make Superset's URL and login."""

from __future__ import annotations

import json
import logging

import pytest
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.cdc.airflow.bi_refresh import base_url, refresh_superset, superset_target
from include.cdc.errors import ConfigurationError
from include.cdc.settings import Settings
from tests.unit.fake_superset import LOGIN, PASSWORD, fake_superset

run_task = refresh_superset.function  # the task's body, as the worker calls it


def test_no_superset_connection_skips_and_says_so(monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_CORD_SUPERSET", raising=False)
    with caplog.at_level(logging.INFO), pytest.raises(AirflowSkipException, match="not configured"):
        run_task()
    assert "no connection 'cord_superset': Superset is not configured" in caplog.text


def test_a_refused_password_fails_at_once_naming_the_connection(monkeypatch, caplog):
    with fake_superset() as (url, _):
        host, port = url.removeprefix("http://").split(":")
        conn = {"conn_type": "http", "host": host, "port": int(port), "login": LOGIN, "password": "wrong-pw"}
        monkeypatch.setenv("AIRFLOW_CONN_CORD_SUPERSET", json.dumps(conn))
        with pytest.raises(AirflowFailException) as failed:
            run_task()
    assert "connection 'cord_superset'" in str(failed.value)
    assert "not retried" in str(failed.value)
    assert "wrong-pw" not in str(failed.value)
    assert "wrong-pw" not in caplog.text


def _connection(**fields) -> Connection:
    return Connection(conn_id="cord_superset", conn_type="http", **fields)


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"host": "superset", "port": 8088}, "http://superset:8088"),
        ({"host": "bi.example.com", "schema": "https"}, "https://bi.example.com"),
        ({"host": "https://bi.example.com/", "port": 443}, "https://bi.example.com:443"),
    ],
)
def test_the_url_comes_from_host_port_and_schema(fields, url):
    assert base_url(_connection(**fields)) == url


def test_a_connection_without_host_or_password_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="'cord_superset' has no host"):
        base_url(_connection(login=LOGIN, password=PASSWORD))
    with pytest.raises(ConfigurationError, match="'cord_superset' needs the login and password"):
        superset_target(_connection(host="superset", login=LOGIN), Settings())


def test_the_target_takes_the_provider_and_timeouts_and_hides_the_password():
    target = superset_target(
        _connection(host="superset", login=LOGIN, password=PASSWORD, extra=json.dumps({"provider": "ldap"})),
        Settings(http_timeout_seconds=7, superset_warm_up_timeout_seconds=90),
    )
    assert (target.provider, target.timeout, target.warm_up_timeout) == ("ldap", 7, 90)
    assert PASSWORD not in repr(target)
    assert PASSWORD not in target.where
