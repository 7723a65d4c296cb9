"""What stops the drain (or the offset commit): each message says what happened and what to do."""


class DrainError(RuntimeError):
    """Kafka could not be drained: unreachable broker, stalled partition, or a log that changed."""


class LostOffsets(DrainError):
    """Records were deleted from Kafka (retention) before they were drained."""


class LogReplaced(DrainError):
    """The archive or the committed offset belongs to another log than the one Kafka now holds."""
