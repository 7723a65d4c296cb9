"""Debezium change events for the captured catalog: generated (generator.py), encoded as the connector
does (debezium_encoding.py) and produced into the stack's Kafka (feed.py)."""
