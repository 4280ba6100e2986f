"""Events as the mirror carries them, and the one JSON encoder they all go through.

Every frame on the wire is produced here, so the "no NaN, no Infinity, always
valid JSON" promise of the protocol is kept in exactly one place.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Final, Literal

PROTOCOL_VERSION: Final = 1

EventType = Literal[
    "state",
    "perturbation",
    "result",
    "error",
    "metabolism",
    "semaphore_ejected",
    "semaphore_resolved",
    "semaphore_cancelled",
    "semaphore_voided",
]

_encoder = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=repr)


def _sanitise(value: Any) -> Any:
    """Replace non-finite floats by null and make containers plain JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _sanitise(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_sanitise(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """Encode compactly; NaN and Infinity become null, unknown objects their repr.

    The fast path is a single ``encode``; only values that hold a non-finite
    float pay for the walk.
    """
    try:
        return _encoder.encode(value)
    except ValueError:
        return _encoder.encode(_sanitise(value))


def finite(value: float, default: float = 0.0) -> float:
    """A float that is safe to put on the wire."""
    return value if math.isfinite(value) else default


@dataclass(frozen=True, slots=True)
class TerrariumEvent:
    """One reflected event: what observers receive, and what history keeps."""

    seq: int
    ts: float
    agent_id: str
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "agent_id": self.agent_id,
            "type": self.type,
            "data": self.data,
        }

    def to_json(self) -> str:
        return to_json(self.as_dict())
