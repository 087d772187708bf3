"""Temporary bridge: helper-1 replaces this with the kind-to-code mapping."""

from __future__ import annotations

INTERNAL_ERROR = 70


def exit_code(error: BaseException) -> int:
    return getattr(error, "exit_code", INTERNAL_ERROR)
