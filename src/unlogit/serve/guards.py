"""What stands between the network and the explorer: every refusal is a 4xx with a reason.

- :class:`BodyLimit` (ASGI): a request body larger than the upload limit is refused with 413 as soon as
  the limit is passed (or at once from ``Content-Length``); the body is never spooled to disk.
- :class:`SameOrigin` (ASGI): state-changing requests (POST) must carry ``X-Unlogit: 1``. Browsers only
  send a custom header cross-origin after a CORS preflight, which this app never grants, so another web
  page cannot post uploads or explorations.
- Host allow-list: Starlette's ``TrustedHostMiddleware`` with the loopback names plus ``--allowed-host``
  (refuses DNS-rebinding requests that arrive with a foreign ``Host``).
- :func:`validation_error`: 422 answers whose bodies are valid JSON even when the rejected input held
  NaN or Infinity (which JSON cannot encode).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
CSRF_HEADER = b"x-unlogit"


async def _reply(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (413), reading at most ``max_bytes + 1`` of them."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        too_big = (
            f"the request body is larger than the upload limit ({self.max_bytes} bytes with the form); "
            "send a smaller image"
        )
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _reply(send, 413, too_big)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await _reply(send, 413, too_big)
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class SameOrigin:
    """POST requests need the ``X-Unlogit: 1`` header (what the explorer page sends), else 403."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and dict(scope["headers"]).get(CSRF_HEADER) != b"1":
            return await _reply(
                send,
                403,
                "POST requests need the header 'X-Unlogit: 1' (the explorer page sends "
                "it; other web pages cannot, which is the point)",
            )
        return await self.app(scope, receive, send)


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by their names (JSON has no way to write them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def validation_error(errors: Sequence[dict]) -> dict[str, Any]:
    """The 422 body for request validation errors, JSON-safe."""
    return {"detail": json_safe(list(errors))}


def allowed_hosts(extra: Sequence[str] = ()) -> list[str]:
    return [*LOOPBACK_HOSTS, *extra]
