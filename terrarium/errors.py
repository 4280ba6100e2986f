"""Why a perturbation was not answered with a result: one exception per protocol code."""

from __future__ import annotations

from typing import ClassVar

from terrarium.protocol import PerturbErrorCode


class PerturbationError(Exception):
    """Base of every refusal; ``code`` is the protocol's error code."""

    code: ClassVar[PerturbErrorCode] = "agent_error"


class BadRequest(PerturbationError):
    code = "bad_request"


class QueueFull(PerturbationError):
    code = "queue_full"


class RateLimited(PerturbationError):
    code = "rate_limited"


class PerturbationTimeout(PerturbationError):
    code = "timeout"


class AgentError(PerturbationError):
    """The agent raised while handling the perturbation; carries the original type."""

    code = "agent_error"

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class AgentUnavailable(PerturbationError):
    code = "agent_unavailable"


class UnknownAgent(LookupError):
    """No agent is registered under this id."""
