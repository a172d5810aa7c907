"""How Baton processes log: one format per process, and Kafka client noise kept in place.

aiokafka logs at ERROR what it then retries by itself: a consumer group's coordinator that
is not available yet (a broker creating its offsets topic on first use, or moving the
coordinator after a restart). That is the normal start of a group, not a failure, so those
records are demoted to INFO; a coordinator that stays away still shows as the consumer's
own timeout or as ``/health`` turning degraded.
"""

from __future__ import annotations

import logging
from typing import IO

from aiokafka.errors import KafkaError

__all__ = ["TransientCoordinatorFilter", "configure_logging", "quiet_transient_kafka_errors"]

_COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"


class TransientCoordinatorFilter(logging.Filter):
    """Demotes aiokafka's "Group Coordinator Request failed" for a retriable error to INFO
    (dropped when the logger does not log INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or not record.msg.startswith(
            "Group Coordinator Request failed"
        ):
            return True
        error = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if not isinstance(error, KafkaError) or not error.retriable:
            return True
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def quiet_transient_kafka_errors() -> None:
    """Install :class:`TransientCoordinatorFilter` on aiokafka's group coordinator logger
    (once per process)."""
    logger = logging.getLogger(_COORDINATOR_LOGGER)
    if not any(isinstance(f, TransientCoordinatorFilter) for f in logger.filters):
        logger.addFilter(TransientCoordinatorFilter())


def configure_logging(*, level: str, name: str, stream: IO[str]) -> None:
    """Log to ``stream`` at ``level`` as ``time name LEVEL logger: message``."""
    logging.basicConfig(
        level=level,
        stream=stream,
        format=f"%(asctime)s {name:<8} %(levelname)-7s %(name)s: %(message)s",
    )
    quiet_transient_kafka_errors()
