"""``terrarium perturb``: one perturbation through the Beam, and its output.

When the agent asks a human instead (a ``semaphore`` reply: the REST route's
202), the command says how to answer (the exact ``terrarium resolve`` line)
and counts down to the token's deadline while it waits for the result.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from terrarium.client.api import TerrariumClient
from terrarium.client.cli import connection
from terrarium.client.cli.arguments import json_or_text
from terrarium.client.cli.countdown import Countdown
from terrarium.client.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Exit
from terrarium.client.cli.output import compact, out, remark, render
from terrarium.client.cli.times import ago, moment

_EXIT_OF = {"bad_request": EXIT_USAGE}


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    perturb = commands.add_parser(
        "perturb", parents=[common], help="send an agent a perturbation and print its output"
    )
    perturb.add_argument("agent", help="the agent's id")
    perturb.add_argument("data", help="the data, as JSON (taken as a string if it is not JSON)")
    perturb.add_argument("--priority", type=int, help="1-199, higher first (default 100)")
    perturb.add_argument("--timeout", type=float, help="seconds to wait for the output")
    perturb.add_argument("--json", action="store_true", help="print the raw reply")
    perturb.set_defaults(handler=run)


@dataclass
class Waiting:
    """The token a perturbation waits on, if any: what to say when the wait is interrupted."""

    token: Mapping[str, Any] | None = None
    answer: str = ""


def run(args: argparse.Namespace) -> int:
    waiting = Waiting()
    try:
        return asyncio.run(perturb(connection.client(args), args, waiting))
    except KeyboardInterrupt:
        if waiting.token is None:
            raise
        remark(f"stopped waiting; the token is still pending. Answer it with: {waiting.answer}")
        return EXIT_INTERRUPTED


async def perturb(client: TerrariumClient, args: argparse.Namespace, waiting: Waiting) -> int:
    replies = client.replies(
        args.agent,
        json_or_text(args.data),
        priority=args.priority,
        perturbation_timeout=args.timeout,
    )
    async with contextlib.aclosing(replies):
        return await print_replies(replies, args, waiting, client)


def answer_command(
    token: Mapping[str, Any], agent: str, client: TerrariumClient | None = None
) -> str:
    """``terrarium resolve AGENT TOKEN <answer>``, with ``--url`` when it was given as one."""
    words = ["terrarium"]
    if client is not None and client.server.source == "option":
        words += ["--url", client.server.url]
    words += ["resolve", str(token.get("agent_id") or agent), str(token.get("id"))]
    return shlex.join(words) + " <answer>"


def semaphore_remarks(token: Mapping[str, Any], command: str) -> list[str]:
    """What a person needs to answer a token: the question, its options, the command."""
    options = [str(option) for option in token.get("options", [])]
    lines = [
        f"waiting for a human: [{token.get('severity')}] {token.get('prompt')} "
        f"(token {token.get('id')}, asked {ago(token.get('created_at'))})",
        f"answer with: {command}",
    ]
    if options:
        lines.append("  <answer> is one of: " + ", ".join(shlex.quote(o) for o in options))
    return lines


async def print_replies(
    replies: AsyncIterator[dict[str, Any]],
    args: argparse.Namespace,
    waiting: Waiting | None = None,
    client: TerrariumClient | None = None,
) -> int:
    """Print the replies: the output, or the refusal as an ``Exit``; count down any wait."""
    waiting = waiting if waiting is not None else Waiting()
    countdown: Countdown | None = None
    try:
        async for reply in replies:
            if countdown is not None:
                await countdown.stop()
                countdown = None
            kind = reply.get("type")
            if args.json:
                out(compact(reply))
            if kind == "semaphore":
                token = reply.get("token", {})
                waiting.token = token
                waiting.answer = answer_command(token, args.agent, client)
                for line in semaphore_remarks(token, waiting.answer):
                    remark(line)
                countdown = Countdown(moment(token.get("deadline")), sys.stderr).start()
            elif kind == "result":
                waiting.token = None
                if not args.json:
                    out(render(reply.get("output")))
                return EXIT_OK
            elif kind == "error":
                waiting.token = None
                code = str(reply.get("code"))
                raise Exit(_EXIT_OF.get(code, EXIT_FAILED), f"{code}: {reply.get('message')}")
    finally:
        if countdown is not None:
            await countdown.stop()
    raise Exit(EXIT_FAILED, "the server closed the socket before answering")
