"""Connector status check: is the Debezium connector on Kafka Connect capturing?

``check`` asks Kafka Connect and says what to do when it is not; ``status`` reads the status body and
quotes what came back.
"""
