"""The warehouse a dbt command will use: its profile's target, read as dbt reads it.

Cosmos writes a profiles.yml for each task (host, port, user and database from the Airflow connection,
the password as ``{{ env_var('COSMOS_CONN_POSTGRES_PASSWORD') }}``) and passes ``--profiles-dir``,
``--profile`` and ``--target``; include/dbt/profiles.yml reads ``CORD_WAREHOUSE_*``. Either way the
values are rendered with dbt's ``env_var`` and its ``as_*`` filters, so the build lock is taken in the
very database dbt builds in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import jinja2
import yaml

from include.cdc.warehouse import WarehouseTarget


class ProfileError(RuntimeError):
    """The dbt profile cannot be read or does not name a PostgreSQL warehouse."""


def option(args: Sequence[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value`` (the last one given)."""
    found = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(name + "="):
            found = arg.partition("=")[2]
    return found


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise ProfileError(f"the dbt profile reads the environment variable {name}, which is not set")
    return default


# Values of a YAML file, not HTML: nothing to escape.
_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
_JINJA.globals["env_var"] = _env_var
_JINJA.filters.update(
    as_number=lambda v: float(v) if "." in str(v) else int(v),
    as_text=str,
    as_native=lambda v: v,
    as_bool=lambda v: str(v).strip().lower() in {"1", "true", "yes", "on"},
)


def _render(value):
    return _JINJA.from_string(value).render() if isinstance(value, str) and "{" in value else value


def _profiles_file(args: Sequence[str], project_dir: Path) -> Path:
    candidates = [option(args, "--profiles-dir"), os.environ.get("DBT_PROFILES_DIR")]
    for directory in [*filter(None, candidates), project_dir, Path.cwd(), Path.home() / ".dbt"]:
        if (Path(directory) / "profiles.yml").is_file():
            return Path(directory) / "profiles.yml"
    raise ProfileError("no profiles.yml found (--profiles-dir, DBT_PROFILES_DIR, the project, ~/.dbt)")


def warehouse_of(args: Sequence[str]) -> WarehouseTarget:
    """The PostgreSQL target the dbt command ``args`` (without the executable) connects to."""
    project_dir = Path(option(args, "--project-dir") or os.environ.get("DBT_PROJECT_DIR") or Path.cwd())
    path = _profiles_file(args, project_dir)
    try:
        profiles = yaml.safe_load(path.read_text()) or {}
        name = option(args, "--profile")
        if name is None:
            name = yaml.safe_load((project_dir / "dbt_project.yml").read_text())["profile"]
        profile = profiles[name]
        target_name = option(args, "--target") or os.environ.get("DBT_TARGET") or _render(profile["target"])
        target = {key: _render(value) for key, value in profile["outputs"][target_name].items()}
    except (OSError, KeyError, TypeError, yaml.YAMLError, jinja2.TemplateError) as exc:
        raise ProfileError(f"cannot read the dbt profile from {path}: {exc!r}") from None
    if target.get("type") != "postgres":
        raise ProfileError(f"the dbt target {name}.{target_name} is {target.get('type')!r}, not postgres")
    extra = {k: str(target[k]) for k in ("sslmode", "sslrootcert", "sslcert", "sslkey") if target.get(k)}
    if target.get("connect_timeout"):
        extra["connect_timeout"] = str(target["connect_timeout"])
    return WarehouseTarget(
        conn_id=f"dbt profile {name}.{target_name}",
        host=str(target.get("host") or "localhost"),
        port=int(target.get("port") or 5432),
        dbname=str(target.get("dbname") or target.get("database") or "postgres"),
        user=str(target.get("user") or ""),
        password=str(target.get("password") or target.get("pass") or ""),
        extra=extra,
    )
