"""The Kafka broker as the drain and the offset commit ask it: partitions, committed offsets, the ends of
each log, the commit. Every failure becomes a DrainError naming the connection and what to check.

librdkafka reports a wrong password or a certificate it cannot verify only to the error callback; the
call that meets it just times out. So the consumer keeps those errors (``Refusals``), and a call that
fails serves the callbacks and names the refusal instead of the timeout. Secrets never reach a message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from include.cdc.faults import crash_point
from include.cdc.ingest.errors import DrainError, KafkaRefused, LogReplaced, LostOffsets
from include.cdc.ingest.windows import LOST_DO, Window

log = logging.getLogger(__name__)

_OUT_OF_RANGE = {KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE}
_CREDENTIALS = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED}
_CERTIFICATE = {KafkaError._SSL}
# The group coordinator moves or loads (a new cluster, a broker restart): librdkafka hands these to the
# caller without always marking them retriable.
_COORDINATOR_BUSY = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}
SECRET_SETTINGS = ("password", "secret", "token")  # a setting whose name holds one of these is a secret


def secret_values(config: dict) -> list[str]:
    """The values of a client configuration that must never reach a message."""
    return [str(v) for k, v in config.items() if any(word in k for word in SECRET_SETTINGS)]


class Refusals:
    """The consumer's error callback: keeps the first refusal of the connection's credentials or
    certificate, logs the other errors (brokers down, for instance) that the consumer retries itself."""

    def __init__(self, conn_id: str, secrets: Collection[str] = ()) -> None:
        self.conn_id = conn_id
        self.secrets = [s for s in secrets if s]
        self.refusal: KafkaRefused | None = None

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def __call__(self, error: KafkaError) -> None:
        detail = self.scrub(error.str())
        if error.code() in _CREDENTIALS:
            refused, check = (
                "refused the connection's credentials",
                "Check sasl.username, sasl.password and sasl.mechanism in the connection's extra, and that "
                "the user exists on the cluster with that mechanism",
            )
        elif error.code() in _CERTIFICATE:
            refused, check = (
                "failed the TLS handshake",
                "Check ssl.ca.location in the connection's extra: it must hold the CA that signed the "
                "brokers' certificates, and bootstrap.servers must name the hosts those certificates are for",
            )
        else:
            log.warning("Kafka (connection %r): %s", self.conn_id, detail)
            return
        if self.refusal is None:
            self.refusal = KafkaRefused(f"Kafka (connection {self.conn_id!r}) {refused}: {detail}. {check}.")


class DrainConsumer(Consumer):
    """A consumer that keeps the brokers' refusals of its connection (``Refusals``)."""

    def __init__(self, config: dict, conn_id: str) -> None:
        self.refusals = Refusals(conn_id, secret_values(config))
        super().__init__({**config, "error_cb": self.refusals})

    def raise_refusal(self) -> None:
        """Raise the refusal, if any, after serving the callbacks a failed call left queued (a record
        that poll returns is dropped: the caller is failing anyway, and nothing was committed)."""
        if self.refusals.refusal is None:
            self.poll(0)
        if self.refusals.refusal is not None:
            raise self.refusals.refusal


def until_settled(call, timeout: float):
    """``call()``, called again while it fails with a retriable error or a busy group coordinator, for up
    to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            settling = error.retriable() or error.code() in _COORDINATOR_BUSY
            if not settling or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Broker:
    """The consumer's calls besides reading records; ``conn_id`` only serves error messages."""

    def __init__(self, consumer: DrainConsumer, conn_id: str, timeout: float) -> None:
        self.consumer = consumer
        self.conn_id = conn_id
        self.timeout = timeout

    def partitions(self, topic: str) -> list[int] | None:
        """The topic's partitions, or None when the topic does not exist."""
        try:
            metadata = self.consumer.list_topics(topic, timeout=self.timeout)
        except KafkaException as exc:
            self.consumer.raise_refusal()
            raise DrainError(
                f"Cannot reach Kafka (connection {self.conn_id!r}) to read the metadata of {topic!r} within "
                f"{self.timeout:g} s: {exc.args[0]}. Check that the brokers are up and that the "
                f"connection's bootstrap.servers and security settings are right."
            ) from exc
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            if info is not None and info.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise DrainError(f"Kafka (connection {self.conn_id!r}) reports {topic!r}: {info.error}")
            return None
        return sorted(info.partitions)

    def committed(self, topic: str, partitions: list[int]) -> dict[int, int]:
        """The group's committed offset of each partition that has one."""
        wanted = [TopicPartition(topic, p) for p in partitions]
        try:
            answer = until_settled(
                lambda: self.consumer.committed(wanted, timeout=self.timeout), self.timeout
            )
        except KafkaException as exc:
            self.consumer.raise_refusal()
            raise DrainError(
                f"Cannot read the committed offsets of {topic!r} from Kafka (connection {self.conn_id!r}): "
                f"{exc.args[0]}. Check the connection's group.id and the group coordinator."
            ) from exc
        return {tp.partition: tp.offset for tp in answer if tp.offset >= 0}

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(the first offset the log holds, its end offset), asked of the broker, never cached."""
        try:
            return self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=self.timeout, cached=False
            )
        except KafkaException as exc:
            self.consumer.raise_refusal()
            raise DrainError(
                f"Cannot read the end offsets of {topic!r} partition {partition} from Kafka "
                f"(connection {self.conn_id!r}): {exc.args[0]}."
            ) from exc

    def error(self, error: KafkaError, window: Window | None) -> DrainError:
        """An error the consumer delivered while reading ``window``: an offset the log cannot serve is
        either deleted by retention (LostOffsets) or of another log (LogReplaced)."""
        if window is not None and error.code() in _OUT_OF_RANGE:
            low, high = self.watermarks(window.topic, window.partition)
            kind = LostOffsets if window.read_from < low else LogReplaced
            return kind(
                f"{window.name}: Kafka (connection {self.conn_id!r}) cannot serve offset {window.read_from}: "
                f"the log now holds offsets {low}..{high - 1}. "
                + (
                    f"Records were deleted by retention before they were drained. {LOST_DO}"
                    if kind is LostOffsets
                    else "The topic was recreated or the broker's log was reset. See docs/operations.md, "
                    "'When the topic was recreated or the broker's log reset'."
                )
            )
        return DrainError(f"Kafka (connection {self.conn_id!r}) returned an error while draining: {error}")

    def stalled(self, windows: Collection[Window]) -> DrainError:
        """Nothing was delivered for ``timeout`` seconds while ``windows`` had not reached their end."""
        self.consumer.raise_refusal()
        waiting = {w.name: (w.land_from, w.end) for w in windows}
        return DrainError(
            f"Kafka (connection {self.conn_id!r}) delivered nothing for {self.timeout:g} s while partitions "
            f"{waiting} (next offset, end offset reported at the start) had not reached their end. Check the "
            f"brokers' health and the connection's settings, then rerun: nothing was committed, so the next "
            "attempt starts where this one stopped."
        )


def commit_offsets(
    consumer: DrainConsumer, conn_id: str, topic: str, next_offsets: dict[int, int], timeout: float
):
    """Commit the group's offsets for ``topic``: call only once the objects holding them are written."""
    if not next_offsets:
        return []
    crash_point("commit.before_commit")
    offsets = [TopicPartition(topic, int(p), int(o)) for p, o in sorted(next_offsets.items())]
    try:
        answer = until_settled(lambda: consumer.commit(offsets=offsets, asynchronous=False), timeout)
    except KafkaException as exc:
        consumer.raise_refusal()
        raise DrainError(
            f"Cannot commit offsets of {topic!r} to Kafka (connection {conn_id!r}): {exc.args[0]}. The "
            f"objects are written; the next run finds them and commits past them."
        ) from exc
    failed = [tp for tp in answer or () if tp.error is not None]
    if failed:
        raise DrainError(f"Kafka (connection {conn_id!r}) refused the offset commit for {failed}")
    return [(tp.partition, tp.offset) for tp in offsets]
