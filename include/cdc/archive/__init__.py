"""The archive in the bucket (MinIO): what the drain writes and the bronze load reads.

``landing`` is the format: object keys named after the offsets they hold, gzip JSONL lines that keep each
Kafka record as delivered. ``storage`` reaches the bucket through a boto3 client, with errors that name the
connection and what to check.
"""
