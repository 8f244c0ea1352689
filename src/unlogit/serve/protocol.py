"""The explorer's HTTP protocol: uvicorn's h11 implementation with a deadline for receiving a request's headers
and a bound on open connections, so slow or half-open clients cannot take the server down (Slowloris).

uvicorn times out only idle keep-alive connections, and resets even that timer on every byte received; a
client that never finishes its headers holds its connection (and a file descriptor) for ever. Here every
connection must deliver a complete request head within ``header_timeout`` seconds of opening (and of the
previous response), or it is closed; past ``max_connections`` open connections a new one is closed at once.
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
        self._head_deadline = self.loop.call_later(self.header_timeout, self._expire)

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
        if self.cycle is not None and self.cycle is not self._served:  # a complete request head arrived
            self._served = self.cycle
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol_with(header_timeout: float, max_connections: int) -> type[DeadlineH11Protocol]:
    """A protocol class with these limits (uvicorn takes the class, not an instance)."""
    return type(
        "ExplorerH11Protocol",
        (DeadlineH11Protocol,),
        {"header_timeout": header_timeout, "max_connections": max_connections},
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
