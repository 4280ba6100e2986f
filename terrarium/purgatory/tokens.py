"""Semaphore tokens: what an agent hands a human instead of blocking its stream.

A token is plain, frozen, JSON-serialisable data (never pickle): it can be
stored in SQLite, listed over REST, shown in a notebook and survive a restart.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from terrarium.protocol import Token

Severity = Literal["info", "warning", "critical"]
#: ``resuming``: a human answered, the answer is recorded and the agent's ``resume`` is
#: owed; ``resolved`` once it has run. The others are final without a resume.
TokenStatus = Literal["pending", "resuming", "resolved", "cancelled", "voided"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")


class SemaphoreReason(StrEnum):
    """Why an agent needs a human: a fixed set, so dashboards can group and filter."""

    APPROVAL = "approval"
    CONFIRMATION = "confirmation"
    CLARIFICATION = "clarification"
    REVIEW = "review"
    ESCALATION = "escalation"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _json_copy(value: Any, what: str) -> Any:
    """A deep, JSON-only copy: refuses what cannot survive a restart."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{what} must be JSON-serialisable: {error}") from None


@dataclass(frozen=True, slots=True)
class SemaphoreToken:
    """A pending human decision and everything needed to resume without the caller."""

    reason: SemaphoreReason
    prompt: str
    options: tuple[str, ...] = ()
    severity: Severity = "info"
    deadline: datetime | None = None
    frozen_state: Any = None
    original_event: Any = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    agent_id: str = ""
    perturbation_id: str | None = None
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime | None = None
    status: TokenStatus = "pending"
    #: The human's answer and who gave it, kept from the moment it is recorded, so a
    #: resume owed when the server stopped can run after a restart.
    human_input: Any = None
    resolved_by: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", SemaphoreReason(self.reason))
        object.__setattr__(self, "options", tuple(str(option) for option in self.options))
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
        if self.deadline is not None and self.deadline.tzinfo is None:
            raise ValueError("deadline must be timezone-aware (UTC)")
        object.__setattr__(self, "frozen_state", _json_copy(self.frozen_state, "frozen_state"))
        object.__setattr__(
            self, "original_event", _json_copy(self.original_event, "original_event")
        )

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def owed(self) -> bool:
        """Answered, and the agent's ``resume`` has not run yet."""
        return self.status == "resuming"

    @property
    def unsettled(self) -> bool:
        """Pending, or owed a resume: what a store lists per agent."""
        return self.status in ("pending", "resuming")

    def with_status(self, status: TokenStatus) -> SemaphoreToken:
        return replace(self, status=status, updated_at=utc_now())

    def answered(self, human_input: Any, by: str | None) -> SemaphoreToken:
        """Recorded as answered, its resume owed (``resuming``)."""
        return replace(
            self,
            status="resuming",
            human_input=_json_copy(human_input, "human_input"),
            resolved_by=by,
            updated_at=utc_now(),
        )

    def as_protocol(self) -> Token:
        """The protocol's TOKEN object."""
        return {
            "id": self.id,
            "agent_id": self.agent_id,
            "reason": self.reason.value,
            "prompt": self.prompt,
            "options": list(self.options),
            "severity": self.severity,
            "created_at": iso(self.created_at) or "",
            "deadline": iso(self.deadline),
            "status": self.status,
        }

    def to_record(self) -> dict[str, Any]:
        """Everything, as JSON, for a store."""
        return {
            **self.as_protocol(),
            "frozen_state": self.frozen_state,
            "original_event": self.original_event,
            "perturbation_id": self.perturbation_id,
            "updated_at": iso(self.updated_at),
            "human_input": self.human_input,
            "resolved_by": self.resolved_by,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SemaphoreToken:
        created = parse_iso(record["created_at"])
        assert created is not None
        return cls(
            reason=SemaphoreReason(record["reason"]),
            prompt=record["prompt"],
            options=tuple(record.get("options", ())),
            severity=record.get("severity", "info"),
            deadline=parse_iso(record.get("deadline")),
            frozen_state=record.get("frozen_state"),
            original_event=record.get("original_event"),
            id=record["id"],
            agent_id=record["agent_id"],
            perturbation_id=record.get("perturbation_id"),
            created_at=created,
            updated_at=parse_iso(record.get("updated_at")),
            status=record.get("status", "pending"),
            human_input=record.get("human_input"),
            resolved_by=record.get("resolved_by"),
        )


def eject(
    prompt: str,
    *,
    reason: SemaphoreReason | str = SemaphoreReason.APPROVAL,
    options: tuple[str, ...] | list[str] = (),
    severity: Severity = "info",
    state: Any = None,
    event: Any = None,
    timeout: float | None = None,
) -> SemaphoreToken:
    """What an agent returns to ask a human: ``return eject("Delete 47 records?", ...)``.

    ``state`` is handed back to the agent's ``resume`` with the human's answer;
    ``timeout`` (seconds) sets the deadline after which the token is voided.
    """
    deadline = None if timeout is None else utc_now() + timedelta(seconds=timeout)
    return SemaphoreToken(
        reason=SemaphoreReason(reason),
        prompt=prompt,
        options=tuple(options),
        severity=severity,
        deadline=deadline,
        frozen_state=state,
        original_event=event,
    )


@dataclass(frozen=True, slots=True)
class ReentryContext:
    """What a resolved token brings back into the agent's queue (at priority 200)."""

    token: SemaphoreToken
    human_input: Any
