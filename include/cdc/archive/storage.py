"""The landing bucket (MinIO in production), reached through the S3 API of a boto3 client.

Tasks build the client from the ``aws`` Airflow connection (S3Hook, ``endpoint_url`` in its extra);
this module only needs the client, so tests can hand it any S3-compatible endpoint. Errors are
translated into one sentence that names the connection, the bucket and what to check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

# Applied to every client the pipeline builds: no request waits forever, a flaky network gets a
# few quick retries, a dead endpoint fails within seconds.
CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=60,
    retries={"max_attempts": 3, "mode": "standard"},
    max_pool_connections=16,
)

_CREDENTIAL_ERRORS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


class StorageError(RuntimeError):
    """The bucket cannot be used: unreachable, wrong keys, missing bucket or missing rights."""


@dataclass
class ObjectStore:
    client: object  # a boto3 S3 client
    bucket: str
    conn_id: str

    def _explain(self, exc: Exception, action: str) -> StorageError:
        where = f"bucket {self.bucket!r} (connection {self.conn_id!r})"
        if isinstance(exc, EndpointConnectionError):
            hint = "the S3 endpoint does not answer: check that MinIO is up and the connection's endpoint_url"
        elif isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _CREDENTIAL_ERRORS:
                hint = f"the access key or secret is wrong ({code}): fix the connection's login and password"
            elif code in {"NoSuchBucket", "404"} and action != "read":
                hint = (
                    f"the bucket does not exist ({code}): create it (it is not created by the pipeline, "
                    f"so that a typo in the name cannot start a second archive)"
                )
            elif code in {"AccessDenied", "403", "AllAccessDisabled"}:
                hint = f"the connection's key may not {action} here ({code}): grant it on the bucket"
            else:
                hint = f"{code}: {exc.response.get('Error', {}).get('Message', '')}"
        else:
            hint = f"{type(exc).__name__}: {exc}"
        return StorageError(f"Cannot {action} {where}: {hint}.")

    def check_bucket(self) -> None:
        """Fail early, with a clear message, when the bucket cannot be reached or does not exist."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "403":
                # HEAD answers carry no error code: ask again with a request whose answer says why.
                try:
                    self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
                except (ClientError, BotoCoreError) as detailed:
                    raise self._explain(detailed, "reach") from detailed
            raise self._explain(exc, "reach") from exc
        except BotoCoreError as exc:
            raise self._explain(exc, "reach") from exc

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=metadata or {})
        except (ClientError, BotoCoreError) as exc:
            raise self._explain(exc, "write to") from exc

    def get(self, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise self._explain(exc, "read") from exc

    def metadata(self, key: str) -> dict[str, str]:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key).get("Metadata", {})
        except (ClientError, BotoCoreError) as exc:
            raise self._explain(exc, "read") from exc

    def list_keys(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        """Keys under ``prefix`` in key order, optionally only those after ``start_after``."""
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                for item in page.get("Contents", ()):
                    yield item["Key"]
        except (ClientError, BotoCoreError) as exc:
            raise self._explain(exc, "list") from exc

    def list_prefixes(self, prefix: str) -> list[str]:
        """The 'folders' directly under ``prefix``."""
        try:
            found: list[str] = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                found.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
            return found
        except (ClientError, BotoCoreError) as exc:
            raise self._explain(exc, "list") from exc
