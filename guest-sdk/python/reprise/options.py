"""Retry policies, as Durable Functions' RetryOptions, checked before they reach the host."""

from __future__ import annotations

# The host's interfaces and types: the bindings inside a component (see `_host`).
from ._host import types

from dataclasses import dataclass, field
from datetime import timedelta
from typing import List, Optional, Union

from .errors import Failure

#: A duration: a ``timedelta`` or a number of seconds.
Duration = Union[timedelta, int, float]


def to_ms(duration: Duration, what: str) -> int:
    """``duration`` in whole milliseconds; a ``Failure`` (InvalidOptions) if it is negative."""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if seconds < 0:
        raise Failure(Failure.INVALID_OPTIONS, f"{what} must not be negative (got {seconds} s)")
    return int(round(seconds * 1000))


@dataclass
class RetryPolicy:
    """How the host retries a failed activity or sub-orchestration.

    ``max_attempts`` counts every attempt, the first included; the wait before attempt n+1 is
    ``min(first_retry_interval * backoff_coefficient ** (n-1), max_retry_interval)``. Durations
    are ``timedelta``s or seconds. Error types in ``non_retryable_errors`` are never retried.
    """

    max_attempts: int
    first_retry_interval: Duration
    backoff_coefficient: float = 1.0
    max_retry_interval: Optional[Duration] = None
    retry_timeout: Optional[Duration] = None
    non_retryable_errors: List[str] = field(default_factory=list)

    def to_wire(self):
        """The WIT record of this policy; a ``Failure`` (InvalidOptions) if the host would refuse it."""

        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise Failure(Failure.INVALID_OPTIONS, f"max_attempts must be at least 1 (got {self.max_attempts!r})")
        if not self.backoff_coefficient >= 1.0:
            raise Failure(
                Failure.INVALID_OPTIONS,
                f"backoff_coefficient must be at least 1.0 (got {self.backoff_coefficient!r})",
            )
        first = to_ms(self.first_retry_interval, "first_retry_interval")
        longest = None if self.max_retry_interval is None else to_ms(self.max_retry_interval, "max_retry_interval")
        timeout = None if self.retry_timeout is None else to_ms(self.retry_timeout, "retry_timeout")
        return types.RetryPolicy(
            self.max_attempts, first, float(self.backoff_coefficient), longest, timeout, list(self.non_retryable_errors)
        )
