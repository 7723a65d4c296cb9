"""Copies the technical columns (include/dbt/cdc_technical_columns.yml) into every staging model's
property file, between its markers: YAML anchors cannot cross files, and dbt reads no include.

    python -m devstack.technical_columns          # rewrite the copies
    python -m devstack.technical_columns --check  # exit 1 when a copy is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from include.cdc.contract import STAGING_MODELS_DIR

DEFINITION = STAGING_MODELS_DIR.parents[1] / "cdc_technical_columns.yml"
BEGIN = "# >>> technical columns: copied from include/dbt/cdc_technical_columns.yml by"
HOW = "#     python -m devstack.technical_columns (edit there, not here)"
END = "# <<< technical columns"
_BLOCK = re.compile(rf"^( *){re.escape(BEGIN)}\n.*?^\1{re.escape(END)}\n", re.MULTILINE | re.DOTALL)


def block(indent: str) -> str:
    """The definition's list, indented as a model's ``columns`` entries, between the markers."""
    items = DEFINITION.read_text().partition("\n- ")[2]
    lines = [BEGIN, HOW, *f"- {items}".splitlines(), END]
    return "".join(f"{indent}{line}\n" if line else "\n" for line in lines)


def with_current_block(text: str, path: Path) -> str:
    """``text`` with its technical-columns block replaced by the definition's."""
    found = list(_BLOCK.finditer(text))
    if len(found) != 1:
        raise SystemExit(f"{path}: expected one technical-columns block between markers, found {len(found)}")
    return _BLOCK.sub(lambda match: block(match.group(1)), text)


def staging_property_files() -> list[Path]:
    return sorted(STAGING_MODELS_DIR.glob("stg_*.yml"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale copies")
    check = parser.parse_args(argv).check
    stale = []
    for path in staging_property_files():
        text = path.read_text()
        current = with_current_block(text, path)
        if current != text:
            stale.append(path)
            if not check:
                path.write_text(current)
    for path in stale:
        print(f"{'stale' if check else 'rewrote'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
