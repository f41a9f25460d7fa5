"""Retries with exponential backoff around any model adapter.

Adapters raise `ModelError(retryable=True)` for transient failures (timeouts, connection
errors, 429, 5xx, 529) and never retry themselves; `RetryingAdapter` owns the policy so it
is the same for every provider and can be made instant in tests with a fake `sleep`.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping

import anyio

from clients.models.base import Message, ModelAdapter, ModelError, Reply, TaskContext, ToolDef


class RateLimited(ModelError):
    """A retryable error that carries the server's hint (seconds) of when to try again."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 status: int | None = 429):
        super().__init__(message, retryable=True)
        self.retry_after = retry_after
        self.status = status


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, `retry-after` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryingAdapter:
    """Wraps an adapter; retries its retryable `ModelError`s, re-raises the rest at once.

    `retries` counts the retries since the last `start()` (one task sample) and
    `last_retries` those of the latest `respond()`; `retry_log` lists the errors that were
    retried in the latest `respond()`. One instance should serve one conversation at a time,
    or the counters mix.
    """

    def __init__(
        self,
        inner: ModelAdapter,
        *,
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 20,
        jitter: bool = True,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
        max_retry_after: float = 120,
    ):
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.inner = inner
        self.name = inner.name
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self.retries = 0
        self.last_retries = 0
        self.retry_log: list[str] = []

    async def start(self, task: TaskContext) -> None:
        self.retries = 0
        await self.inner.start(task)

    def delay(self, retry: int, err: ModelError) -> float:
        """How long to wait before retry number `retry` (0-based) after `err`."""
        backoff = min(self.max_delay, self.base_delay * 2**retry)
        if self.jitter:
            # Keep half the backoff as a floor so a burst of clients still spreads out
            # without ever retrying immediately.
            backoff *= random.uniform(0.5, 1.0)
        hint = getattr(err, "retry_after", None)
        if isinstance(hint, int | float) and hint > 0:
            # The server knows its own recovery time better than our schedule does.
            return max(backoff, min(float(hint), self.max_retry_after))
        return backoff

    async def respond(self, messages: list[Message], tools: list[ToolDef], *, turn: int,
                      step: int) -> Reply:
        self.last_retries = 0
        self.retry_log = []
        for attempt in range(self.attempts):
            try:
                return await self.inner.respond(messages, tools, turn=turn, step=step)
            except ModelError as err:
                if not err.retryable or attempt == self.attempts - 1:
                    raise
                self.retry_log.append(str(err))
                self.last_retries += 1
                self.retries += 1
                await self._sleep(self.delay(attempt, err))
        raise AssertionError("unreachable")  # the loop always returns or raises

    async def aclose(self) -> None:
        """Close the wrapped adapter's connections, if it has any."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()
