"""Times for people ("3 min ago", "in 45 s") from the ISO text or epoch seconds the server sends."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

#: Units from the largest, with the seconds each holds.
_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def moment(value: Any) -> float | None:
    """Epoch seconds from a TOKEN's ISO-8601 text or an event's ``ts``; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:  # the protocol's times are UTC
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def duration(seconds: float, *, precise: bool = False) -> str:
    """``45 s``, ``3 min``, ``2 h 5 min``; ``precise`` adds the next unit down below an hour too.

    Rounded down, so a countdown never shows more time than is left.
    """
    whole = max(0, int(seconds))
    for index, (unit, size) in enumerate(_UNITS):
        if whole >= size or unit == "s":
            count, rest = divmod(whole, size)
            text = f"{count} {unit}"
            if index + 1 < len(_UNITS) and (precise or size >= 3_600):
                smaller, smaller_size = _UNITS[index + 1]
                if rest // smaller_size:
                    text += f" {rest // smaller_size} {smaller}"
            return text
    raise AssertionError("unreachable: the last unit always matches")


def relative(when: float, now: float | None = None, *, precise: bool = False) -> str:
    """``in 45 s``, ``3 min ago`` or ``now``: ``when`` seen from ``now`` (default: the clock)."""
    delta = when - (time.time() if now is None else now)
    if abs(delta) < 1:
        return "now"
    text = duration(abs(delta), precise=precise)
    return f"in {text}" if delta > 0 else f"{text} ago"


def clock(when: float, now: float | None = None) -> str:
    """``14:03:21`` today, ``Dec 4 14:03:21`` on another day: local time."""
    local = time.localtime(when)
    today = time.localtime(time.time() if now is None else now)
    if local[:3] == today[:3]:
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%b ", local) + str(local.tm_mday) + time.strftime(" %H:%M:%S", local)


def event_clock(ts: Any) -> str:
    """``14:03:21.120``: an event's ``ts`` to the millisecond, one word (a column of a line)."""
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"


def ago(value: Any, now: float | None = None) -> str:
    """A past time from the server (``3 min ago``), or ``-`` when there is none."""
    when = moment(value)
    return "-" if when is None else relative(when, now)


def until(value: Any, now: float | None = None) -> str:
    """A deadline from the server: ``in 4 min 12 s``, ``passed 3 s ago``, or ``none``."""
    when = moment(value)
    if when is None:
        return "none"
    text = relative(when, now, precise=True)
    return f"passed {text}" if text.endswith(" ago") else text
