"""The errors no retry can heal: the task that meets one fails at once, and its alert goes out now.

A retry minutes later would meet the same log, the same settings or the same bad records, and only
delay the alert (or, for too many quarantined records, pass without a word). The Airflow tasks turn
these into ``AirflowFailException``; every other error is retried.
"""

from __future__ import annotations


class PermanentError(Exception):
    """An error that needs a person: a fix of the configuration or one of the documented procedures."""


class ConfigurationError(PermanentError, ValueError):
    """A setting, a connection or the contract holds something the pipeline cannot use."""
