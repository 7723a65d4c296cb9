"""What stops the drain (or the offset commit): each message says what happened and what to do."""

from include.cdc.errors import ConfigurationError, PermanentError


class DrainError(RuntimeError):
    """Kafka could not be drained: unreachable broker, stalled partition, or a log that changed."""


class LostOffsets(DrainError, PermanentError):
    """Records were deleted from Kafka (retention) before they were drained: a retry meets the same gap;
    a run with ``accept_lost_offsets`` moves on."""


class LogReplaced(DrainError, PermanentError):
    """The archive or the committed offset belongs to another log than the one Kafka now holds: the
    procedure for a recreated topic (docs/operations.md) moves on."""


class KafkaRefused(DrainError, ConfigurationError):
    """The brokers refused the connection's credentials or certificate: only a fix of the connection
    heals it, so the task fails at once rather than retrying into the same refusal."""
