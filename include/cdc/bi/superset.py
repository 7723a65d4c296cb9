"""A small client of Superset's REST API (``/api/v1``), with requests: only what the BI refresh needs.

Superset answers its API with a JWT from ``/api/v1/security/login``; every POST and PUT also needs a
CSRF token (``/api/v1/security/csrf_token/``, bound to the session cookie) and a Referer, or Superset
6.1 answers 400 "The CSRF token is missing". Every call has a timeout. 401 and 403 mean the
connection's credentials or the user's roles are wrong: ``SupersetAuthError``, which no retry heals.
A Superset that does not answer, or answers 5xx, raises ``SupersetError``, which Airflow retries.
Errors name the connection and its login, URL and Superset's message, never the password.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from include.cdc.errors import ConfigurationError

PAGE_SIZE = 100
MAX_MESSAGE = 300


class SupersetError(RuntimeError):
    """Superset did not answer, or failed: retried (a restart, a deploy, a database that was busy)."""


class SupersetAuthError(SupersetError, ConfigurationError):
    """Superset refused the connection's login or its rights: fix the connection or the user's roles."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SupersetTarget:
    conn_id: str
    base_url: str
    login: str
    password: str = field(repr=False)
    provider: str = "db"  # or "ldap", as the deployment's AUTH_TYPE says
    timeout: float = 10.0  # every call but the warm-up
    warm_up_timeout: float = 120.0  # a warm-up runs the chart's query in the warehouse

    @property
    def where(self) -> str:
        return f"connection {self.conn_id!r} ({self.login}@{self.base_url})"


@dataclass(frozen=True)
class Dataset:
    id: int
    schema: str
    table_name: str
    database: str
    sql: str = ""  # a virtual dataset's query; a physical one has none

    @property
    def mart(self) -> str:
        return f"{self.schema}.{self.table_name}"

    @property
    def uid(self) -> str:
        """How Superset's cache keys name the dataset (``<id>__table``)."""
        return f"{self.id}__table"


@dataclass(frozen=True)
class Chart:
    id: int
    name: str


def _message(response: requests.Response) -> str:
    """Superset's own message (``message`` or ``errors[].message``), short, else the status text."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        text = body.get("message") or "; ".join(
            str(e.get("message")) for e in body.get("errors", []) if isinstance(e, dict)
        )
    else:
        text = ""
    text = str(text or response.reason or f"HTTP {response.status_code}")
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


class SupersetClient:
    """One logged-in session; ``login`` first."""

    def __init__(self, target: SupersetTarget, session: requests.Session | None = None) -> None:
        self.target = target
        self.session = session or requests.Session()

    def _call(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> Any:
        url = f"{self.target.base_url.rstrip('/')}{path}"
        try:
            response = self.session.request(method, url, timeout=timeout or self.target.timeout, **kwargs)
        except requests.Timeout:
            raise SupersetError(
                f"Superset did not answer {method} {path} within {timeout or self.target.timeout:g} s, "
                f"{self.target.where}: check that it is up and not overloaded (retried)."
            ) from None
        except requests.ConnectionError as exc:
            raise SupersetError(
                f"Cannot reach Superset, {self.target.where}: {type(exc).__name__}. Check that it is up and "
                f"the connection's host and port (retried)."
            ) from None
        if response.status_code in (401, 403):
            raise SupersetAuthError(
                f"Superset refused {method} {path} (HTTP {response.status_code}: {_message(response)}), "
                f"{self.target.where}: fix the connection's login and password, or give the user the "
                f"rights to read datasets and charts and to refresh and warm up caches.",
                response.status_code,
            )
        if response.status_code >= 400:
            raise SupersetError(
                f"Superset answered HTTP {response.status_code} to {method} {path} "
                f"({_message(response)}), {self.target.where}; see Superset's log."
            )
        return response.json() if response.content else {}

    def _api(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> Any:
        """A call after login. Superset's tokens expire (15 minutes by default), and a run that warms
        many slow charts outlives one: a 401 logs in again once, and only a second 401 is a refusal."""
        try:
            return self._call(method, path, timeout, **kwargs)
        except SupersetAuthError as exc:
            if exc.status != 401:
                raise
            self.login()
            return self._call(method, path, timeout, **kwargs)

    def login(self) -> None:
        """A JWT for the API, then a CSRF token for POST and PUT (bound to the session's cookie)."""
        self.session.headers.pop("Authorization", None)  # an expired token is no part of a login
        body = self._call(
            "POST",
            "/api/v1/security/login",
            json={
                "username": self.target.login,
                "password": self.target.password,
                "provider": self.target.provider,
                "refresh": False,
            },
        )
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise SupersetAuthError(f"Superset's login gave no access token, {self.target.where}.")
        self.session.headers["Authorization"] = f"Bearer {token}"
        csrf = self._call("GET", "/api/v1/security/csrf_token/").get("result")  # a 401 here: refused
        self.session.headers["X-CSRFToken"] = csrf or ""
        self.session.headers["Referer"] = self.target.base_url

    def datasets(self) -> list[Dataset]:
        """Every dataset, in every Superset database; a virtual one with its SQL."""
        return [
            Dataset(
                int(row["id"]),
                row.get("schema") or "",
                row["table_name"],
                (row.get("database") or {}).get("database_name", ""),
                (row.get("sql") or "") if row.get("kind") == "virtual" else "",
            )
            for row in self._pages("/api/v1/dataset/")
        ]

    def _pages(self, path: str) -> Iterator[dict]:
        page = 0
        while True:
            order = "order_column:table_name,order_direction:asc"  # id is not an order column
            q = f"({order},page:{page},page_size:{PAGE_SIZE})"
            body = self._api("GET", path, params={"q": q})
            rows = body.get("result", [])
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            page += 1

    def dataset_columns(self, dataset: Dataset) -> list[str]:
        """The dataset's physical columns as Superset knows them (calculated columns left out)."""
        body = self._api("GET", f"/api/v1/dataset/{dataset.id}")
        return [c["column_name"] for c in body["result"]["columns"] if not c.get("expression")]

    def refresh_dataset(self, dataset: Dataset) -> None:
        """Superset reads the table's columns again (new ones added, dropped ones removed)."""
        self._api("PUT", f"/api/v1/dataset/{dataset.id}/refresh")

    def charts(self, dataset: Dataset) -> list[Chart]:
        body = self._api("GET", f"/api/v1/dataset/{dataset.id}/related_objects")
        return [Chart(int(c["id"]), str(c.get("slice_name") or "")) for c in body["charts"]["result"]]

    def invalidate(self, datasets: list[Dataset]) -> None:
        """Drop every cached result of the datasets' queries (charts, dashboards, SQL Lab's explore)."""
        self._api("POST", "/api/v1/cachekey/invalidate", json={"datasource_uids": [d.uid for d in datasets]})

    def warm_up(self, chart: Chart) -> str | None:
        """Run the chart's query now (forced) and cache it; Superset's error for it, or None."""
        body = self._api(
            "PUT",
            "/api/v1/chart/warm_up_cache",
            timeout=self.target.warm_up_timeout,
            json={"chart_id": chart.id},
        )
        errors = [r.get("viz_error") for r in body.get("result", []) if r.get("viz_error")]
        return "; ".join(map(str, errors)) or None
