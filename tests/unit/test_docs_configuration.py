"""docs/configuration.md names every PRODUCT_CDC_* variable that Settings reads.

The variables are found by watching what ``Settings.from_env`` asks its environment for, not from a list
kept here, and a name counts when a value of it changes what ``from_env`` returns: a setting added to the
code without a line in the doc fails this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from include.cdc.settings import ENV_PREFIX, Settings, SettingsError

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


class _Recording(Mapping[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def get(self, name, default=None):  # Mapping.get would not pass through __getitem__ on every Python
        self.asked.add(name)
        return default

    def __contains__(self, name: object) -> bool:
        self.asked.add(str(name))
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _takes_effect(name: str) -> bool:
    """Whether a value of ``name`` changes what ``from_env`` gives (a name it asks for, then ignores,
    does not count)."""
    try:
        return Settings.from_env({name: "x-1"}) != Settings()
    except SettingsError:
        return True


def variables_settings_reads() -> set[str]:
    environ = _Recording()
    Settings.from_env(environ)
    return {name for name in environ.asked if name.startswith(ENV_PREFIX) and _takes_effect(name)}


def variables_the_doc_names(text: str) -> set[str]:
    return set(re.findall(rf"`({ENV_PREFIX}[A-Z0-9_]+)`", text))


def test_settings_reads_its_variables_through_the_environment():
    read = variables_settings_reads()
    assert {"PRODUCT_CDC_BATCH_SIZE", "PRODUCT_CDC_LOAD_CONNECTIONS", "PRODUCT_CDC_WAREHOUSE_CONN_ID"} <= read


def test_the_configuration_doc_names_every_variable_settings_reads():
    missing = variables_settings_reads() - variables_the_doc_names(CONFIGURATION.read_text())
    assert not missing, f"docs/configuration.md does not name: {sorted(missing)}"


def test_a_variable_removed_from_the_doc_is_found_missing():
    text = CONFIGURATION.read_text()
    for name in ("PRODUCT_CDC_LOAD_CONNECTIONS", "PRODUCT_CDC_SMTP_CONN_ID"):
        assert name in variables_the_doc_names(text)
        assert name not in variables_the_doc_names(text.replace(f"`{name}`", "`removed`"))
