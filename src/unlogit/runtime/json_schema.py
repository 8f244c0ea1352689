"""Checking a JSON document against a JSON Schema (``jsonschema``, Draft 2020-12), for every reader that turns the
first problem into its own named error: the report's inputs, a prepared dataset's manifest."""

from __future__ import annotations

from typing import Any

MESSAGE_CHARS = 200  # a value quoted in a message is cut here, so a refusal stays one short line


def first_problem(data: Any, schema: dict[str, Any]) -> str | None:
    """The most relevant problem of ``data`` against ``schema`` as one line, ``at $.path: message``, or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(data))
    if error is None:
        return None
    message = " ".join(error.message.split())
    if len(message) > MESSAGE_CHARS:
        message = message[:MESSAGE_CHARS] + "..."
    return f"at {error.json_path}: {message}"
