"""The explorer's HTTP protocol: uvicorn's h11 implementation with a deadline for receiving a request's headers
and a bound on open connections, so slow or half-open clients cannot take the server down (Slowloris).

uvicorn times out only idle keep-alive connections, and resets even that timer on every byte received; a
client that never finishes its headers holds its connection (and a file descriptor) for ever. Here every
connection must deliver a complete request head within ``header_timeout`` seconds of opening (and of the
previous response), and then its whole body at no less than ``min_body_rate`` bytes a second: the request's
one deadline is ``header_timeout + length / min_body_rate`` after it began (the length declared, or
``max_body`` when it is not), so a client that sends one body byte every two seconds is closed like one that
never finishes its head. Past ``max_connections`` open connections a new one is closed at once.
The asyncio message logged for every failed ``accept()`` when descriptors run out is rate-limited.
"""

from __future__ import annotations

import asyncio
import logging
import time

from uvicorn.protocols.http.h11_impl import H11Protocol


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's ``H11Protocol`` with a request-head deadline and a connection bound (class attributes, set by
    :func:`protocol_with`)."""

    header_timeout: float = 10.0
    max_connections: int = 256
    min_body_rate: float = 16_384.0  # bytes per second a request body must keep up (a slow mobile link does)
    max_body: int = 6 * 1024 * 1024  # the body allowance when no Content-Length is declared

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._served = None
        if len(self.connections) > self.max_connections:
            transport.abort()  # over the bound: free the descriptor now
            return
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._began = self.loop.time()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._expire)

    def _arm_body(self, declared: int | None) -> None:
        """The rest of the request's one deadline: its head's allowance plus the body's at the minimum rate."""
        self._disarm()
        allowance = min(declared if declared is not None else self.max_body, self.max_body) / self.min_body_rate
        self._head_deadline = self.loop.call_at(self._began + self.header_timeout + allowance, self._expire)

    def _disarm(self) -> None:
        if getattr(self, "_head_deadline", None) is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _expire(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is None:
            return
        if cycle is not self._served:  # a complete request head arrived
            self._served = cycle
            if cycle.more_body:
                self._arm_body(_content_length(cycle.scope.get("headers", [])))
            else:
                self._disarm()
        elif not cycle.more_body and self._head_deadline is not None:  # the whole body arrived in time
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def _content_length(headers) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return None
    return None


def protocol_with(
    header_timeout: float, max_connections: int, min_body_rate: float = 16_384.0, max_body: int = 6 * 1024 * 1024
) -> type[DeadlineH11Protocol]:
    """A protocol class with these limits (uvicorn takes the class, not an instance)."""
    limits = {"header_timeout": header_timeout, "max_connections": max_connections}
    return type(
        "ExplorerH11Protocol", (DeadlineH11Protocol,), {**limits, "min_body_rate": min_body_rate, "max_body": max_body}
    )


class RateLimitFilter(logging.Filter):
    """Lets one record of a kind through per ``interval`` seconds and counts the ones it drops (the asyncio
    'socket.accept() out of system resource' traceback, once per failed accept, would fill a disk)."""

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[str, float] = {}
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        kind = str(record.msg)[:60]
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) < self.interval:
            self.dropped += 1
            return False
        self._last[kind] = now
        if self.dropped:
            record.msg = f"{record.msg} ({self.dropped} similar messages dropped)"
            self.dropped = 0
        record.exc_info = None  # one line, not a traceback
        return True


def install_log_limits(interval: float = 10.0) -> RateLimitFilter:
    """Rate-limit the asyncio logger (where failed accepts are reported); returns the filter (one per process:
    a second call returns the first, with the new interval)."""
    log = logging.getLogger("asyncio")
    for existing in log.filters:
        if isinstance(existing, RateLimitFilter):
            existing.interval = interval
            return existing
    limiter = RateLimitFilter(interval)
    log.addFilter(limiter)
    return limiter
