"""Named SQL statements from ``include/sql``: Python runs SQL, it does not spell it.

A file holds blocks that start with ``-- name: <name>``; identifiers are ``{placeholders}`` that
``statement`` fills with quoted identifiers, and values are ``%(name)s`` parameters bound by the driver.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from psycopg import sql

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
_NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


@cache
def named_statements(relative_path: str) -> dict[str, str]:
    text = (SQL_DIR / relative_path).read_text()
    parts = _NAME_LINE.split(text)
    # parts: [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def statement(relative_path: str, name: str, **identifiers: str) -> sql.Composed | sql.SQL:
    """The statement ``name``; each ``{identifier}`` is a dotted name such as ``bronze.product_cdc``."""
    text = named_statements(relative_path)[name]
    if not identifiers:
        return sql.SQL(text)
    return sql.SQL(text).format(
        **{key: sql.Identifier(*value.split(".")) for key, value in identifiers.items()}
    )
