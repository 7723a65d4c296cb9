"""BI refresh: after the marts change, Superset's datasets and charts show the new numbers.

``superset`` talks to Superset's REST API (login, datasets, charts, cache); ``refresh`` decides what to
refresh: a dataset's metadata only when its mart's columns changed, every chart on a mart's cache always.
"""
