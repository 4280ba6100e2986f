"""What both baseline servers share: the event stream they fan out, and the request shapes.

The baselines carry the same events as Terrarium's firehose (the same JSON
shape and size: seq, ts, agent_id, type ``result``, data), number them, keep
the last 100 for a new observer's replay, and answer the same perturb frames,
so the client fleet cannot tell the three servers apart.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

AGENT = "firehose"
HISTORY = 100
OBSERVE_PATH = "/terrarium/observe/firehose"
PERTURB_PATH = "/terrarium/perturb/firehose"
ECHO_PATH = "/terrarium/perturb/echo"
#: The echo again, but through a queue and a task of its own, as the Beam's contract asks.
QUEUED_ECHO_PATH = "/terrarium/perturb/queued-echo"


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Channel:
    """Seq numbers, the serialised events and the replay history of one stream."""

    def __init__(self, agent_id: str = AGENT, history_size: int = HISTORY) -> None:
        self.agent_id = agent_id
        self.seq = 0
        self.history: deque[str] = deque(maxlen=history_size)

    def event(self, output: str) -> str:
        """Number and serialise one ``result`` event, once, and keep it for replay."""
        self.seq += 1
        payload = to_json(
            {
                "seq": self.seq,
                "ts": time.time(),
                "agent_id": self.agent_id,
                "type": "result",
                "data": {"output": output, "perturbation_id": None},
            }
        )
        self.history.append(payload)
        return payload

    def hello(self) -> str:
        return to_json({"type": "hello", "protocol": 1, "agent_id": self.agent_id, "seq": self.seq})


def parse_request(message: str | bytes) -> tuple[str | None, Any]:
    """The ``id`` and ``data`` of a perturb frame (``data`` None when the frame is bad)."""
    try:
        frame = json.loads(message)
    except ValueError:
        return None, None
    if not isinstance(frame, dict):
        return None, None
    cid = frame.get("id")
    return (cid if isinstance(cid, str) else None), frame.get("data")


def result_reply(cid: str | None, output: Any) -> str:
    return to_json({"type": "result", "id": cid, "output": output})


def error_reply(cid: str | None, message: str) -> str:
    return to_json({"type": "error", "id": cid, "code": "bad_request", "message": message})


def is_ping(message: str | bytes) -> bool:
    try:
        frame = json.loads(message)
    except ValueError:
        return False
    return isinstance(frame, dict) and frame.get("type") == "ping"


PONG = to_json({"type": "pong"})
