"""Exit codes and ``Exit``, so every command stops the same way: a code, a message for a person."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_FORBIDDEN = 4
EXIT_NOT_FOUND = 5
EXIT_INTERRUPTED = 130


class Exit(Exception):
    """Stop with a message for the user and an exit code."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
