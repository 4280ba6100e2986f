"""``terrarium observe``: an agent's stream, one line per event, until interrupted.

``--since``/``--epoch`` resume, ``--no-history`` starts from now (the STATUS
seq as ``since``, so no kept event is replayed), ``--type`` keeps only some
event types. ``hello`` and ``gap`` frames are not events: they are always
shown (as ``#`` remarks on stderr, or as JSON with ``--json``), so a missed
event never goes unnoticed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from terrarium.client.cli import connection
from terrarium.client.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Exit
from terrarium.client.cli.output import compact, event_line, out, remark

#: Frames that are not events: never filtered out by ``--type``.
NOT_EVENTS = frozenset({"hello", "gap", "pong"})


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    observe = commands.add_parser(
        "observe", parents=[common], help="print an agent's stream, one line per event"
    )
    observe.add_argument("agent", help="the agent's id")
    observe.add_argument("--since", type=int, help="replay kept events after this seq")
    observe.add_argument(
        "--epoch",
        help="the epoch --since belongs to (from an earlier hello); another one starts over",
    )
    observe.add_argument(
        "--no-history",
        action="store_true",
        help="start from now: no kept event is replayed, only new ones are printed",
    )
    observe.add_argument(
        "--type",
        dest="types",
        action="append",
        metavar="TYPE",
        help="print only events of this type (repeat it, or separate types with commas); "
        "e.g. result, error, state, perturbation, metabolism, semaphore_ejected",
    )
    observe.add_argument("--json", action="store_true", help="print every frame as raw JSON")
    observe.set_defaults(handler=run)


def wanted_types(given: list[str] | None) -> frozenset[str] | None:
    """The ``--type`` values, commas split; None when every type is wanted."""
    if not given:
        return None
    types = frozenset(part.strip() for value in given for part in value.split(",") if part.strip())
    if not types:
        raise Exit(EXIT_USAGE, "--type needs an event type, e.g. --type result")
    return types


def run(args: argparse.Namespace) -> int:
    if args.no_history and args.since is not None:
        raise Exit(EXIT_USAGE, "--no-history and --since contradict each other: pick one")
    try:
        return asyncio.run(observe(args))
    except KeyboardInterrupt:
        return EXIT_OK


async def observe(args: argparse.Namespace) -> int:
    client = connection.client(args)
    since, epoch = args.since, args.epoch
    if args.no_history:
        status = await asyncio.to_thread(client.agent, args.agent)
        since, epoch = int(status["seq"]), status.get("epoch")
    async with contextlib.aclosing(client.observe(args.agent, since, epoch)) as frames:
        return await print_frames(frames, args)


def _keep(frame: Mapping[str, Any], types: frozenset[str] | None, after: int | None) -> bool:
    """Whether an event frame passes ``--type`` and, with ``--no-history``, is newer than hello."""
    kind = frame.get("type")
    if kind in NOT_EVENTS:
        if kind == "gap" and after is not None:  # a gap inside the skipped history
            return isinstance(frame.get("to"), int) and frame["to"] > after
        return True
    if types is not None and kind not in types:
        return False
    seq = frame.get("seq")
    return after is None or not isinstance(seq, int) or seq > after


async def print_frames(frames: AsyncIterator[Any], args: argparse.Namespace) -> int:
    """Print each frame (or, with ``--json``, its JSON) until the server closes the stream."""
    types = wanted_types(getattr(args, "types", None))
    no_history = bool(getattr(args, "no_history", False))
    after: int | None = None
    async for frame in frames:
        if not isinstance(frame, dict):
            continue
        kind = frame.get("type")
        if kind == "hello" and no_history:
            # Events up to the hello's seq were there before we came: with --no-history
            # they are skipped even if the stream started over since the STATUS was read.
            after = frame.get("seq") if isinstance(frame.get("seq"), int) else None
        if not _keep(frame, types, after):
            continue
        if args.json:
            out(compact(frame))
        elif kind == "hello":
            _hello(frame, types, no_history)
        elif kind == "gap":
            remark(f"gap: events {frame.get('from')} to {frame.get('to')} were missed")
        elif kind != "pong":
            out(event_line(frame))
            state = frame.get("data", {}).get("state") if kind == "state" else None
            if state == "unavailable":
                remark("the server that ran this agent is gone; waiting for another")
            elif state == "available":
                remark("another server runs this agent now")
    remark("the server closed the stream")
    return EXIT_FAILED


def _hello(frame: Mapping[str, Any], types: frozenset[str] | None, no_history: bool) -> None:
    snapshot = frame.get("snapshot", {})
    if frame.get("reset"):
        remark(
            f"---- the stream started over (epoch {frame.get('epoch')}): "
            "seqs below restart from its kept history ----"
        )
    pending = snapshot.get("pending_semaphores")
    count = len(pending) if isinstance(pending, list) else pending
    extras = []
    if count:
        extras.append(f"{count} pending semaphore(s): terrarium pending {frame.get('agent_id')}")
    if types is not None:
        extras.append("only " + ", ".join(sorted(types)))
    if no_history:
        extras.append("new events only")
    remark(
        f"observing {frame.get('agent_id')}: {snapshot.get('state')}, "
        f"seq {frame.get('seq')}, epoch {frame.get('epoch')}, "
        f"{snapshot.get('observers')} observer(s)" + "".join(f"; {extra}" for extra in extras)
    )
