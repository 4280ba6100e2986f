"""What replicas say to each other: commands to an agent's owner, and replies back.

A command entry on ``{ns}:agent:{id}:commands``::

    {kind: "perturb" | "resolve" | "cancel", request: ID, reply_to: REPLICA,
     deadline: EPOCH_SECONDS, body: JSON}

    perturb  body {"data": any, "priority": int, "timeout": float or null, "by": str or null}
    resolve  body {"token_id": str, "human_input": any, "by": str or null}
    cancel   body {"token_id": str}

A reply entry on ``{ns}:replica:{REPLICA}:replies``::

    {request: ID, kind: "result" | "semaphore" | "token" | "error", body: JSON}

    result     {"output": any}             the perturbation's output (or a resumed semaphore's)
    semaphore  {"token": TOKEN_RECORD}     the agent asked a human; a result may follow
    token      {"token": TOKEN_RECORD}     a resolve or cancel was done
    error      {"code": CODE, "message": str, "error_type"?: str, "token"?: TOKEN_RECORD}

``request`` is the perturbation id for perturbations (the caller tells its
client that id before the owner has seen the command). Error codes are the
protocol's, plus ``unknown_token`` and ``not_pending`` for Purgatory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from terrarium.errors import (
    AgentError,
    AgentUnavailable,
    BadRequest,
    PerturbationError,
    PerturbationTimeout,
    QueueFull,
    RateLimited,
)
from terrarium.events import to_json
from terrarium.purgatory.decisions import NotPending, UnknownToken
from terrarium.purgatory.tokens import SemaphoreToken

CommandKind = Literal["perturb", "resolve", "cancel"]
ReplyKind = Literal["result", "semaphore", "token", "error"]
COMMAND_KINDS: tuple[CommandKind, ...] = ("perturb", "resolve", "cancel")
REPLY_KINDS: tuple[ReplyKind, ...] = ("result", "semaphore", "token", "error")

_ERRORS: dict[str, type[PerturbationError]] = {
    "bad_request": BadRequest,
    "queue_full": QueueFull,
    "rate_limited": RateLimited,
    "timeout": PerturbationTimeout,
    "agent_unavailable": AgentUnavailable,
}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    request: str
    reply_to: str
    deadline: float
    body: dict[str, Any]

    def fields(self) -> dict[Any, Any]:
        return {
            "kind": self.kind,
            "request": self.request,
            "reply_to": self.reply_to,
            "deadline": repr(self.deadline),
            "body": to_json(self.body),
        }

    @classmethod
    def parse(cls, fields: dict[Any, Any]) -> Command:
        """Raises ``ValueError`` (or ``KeyError``) for an entry that is not a command."""
        kind = _text(fields[b"kind"])
        if kind not in COMMAND_KINDS:
            raise ValueError(f"unknown command kind {kind!r}")
        body = json.loads(fields[b"body"])
        if not isinstance(body, dict):
            raise ValueError("command body must be an object")
        return cls(
            kind=kind,
            request=_text(fields[b"request"]),
            reply_to=_text(fields[b"reply_to"]),
            deadline=float(fields[b"deadline"]),
            body=body,
        )


@dataclass(frozen=True, slots=True)
class Reply:
    request: str
    kind: ReplyKind
    body: dict[str, Any]

    def fields(self) -> dict[Any, Any]:
        return {"request": self.request, "kind": self.kind, "body": to_json(self.body)}

    @classmethod
    def parse(cls, fields: dict[Any, Any]) -> Reply:
        kind = _text(fields[b"kind"])
        if kind not in REPLY_KINDS:
            raise ValueError(f"unknown reply kind {kind!r}")
        body = json.loads(fields[b"body"])
        if not isinstance(body, dict):
            raise ValueError("reply body must be an object")
        return cls(_text(fields[b"request"]), kind, body)


def error_body(error: BaseException) -> dict[str, Any]:
    """An exception as an ``error`` reply body, keeping the protocol's code."""
    if isinstance(error, NotPending):
        return {"code": "not_pending", "message": str(error), "token": error.token.to_record()}
    if isinstance(error, UnknownToken):
        return {"code": "unknown_token", "message": str(error)}
    if isinstance(error, AgentError):
        return {"code": error.code, "message": str(error), "error_type": error.error_type}
    if isinstance(error, PerturbationError):
        return {"code": error.code, "message": str(error)}
    return {"code": "agent_error", "message": str(error), "error_type": type(error).__name__}


def error_of(body: dict[str, Any]) -> Exception:
    """An ``error`` reply body as the exception a local call would have raised."""
    code, message = str(body.get("code")), str(body.get("message", ""))
    if code == "not_pending" and isinstance(body.get("token"), dict):
        return NotPending(SemaphoreToken.from_record(body["token"]))
    if code == "unknown_token":
        return UnknownToken(message)
    if code == "agent_error":
        return AgentError(str(body.get("error_type", "Exception")), message)
    known = _ERRORS.get(code)
    return known(message) if known is not None else AgentError(code, message)
