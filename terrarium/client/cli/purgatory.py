"""``terrarium pending``, ``resolve`` and ``cancel``: the semaphore tokens waiting for a human.

Unknown agents and tokens, and tokens no longer pending, are told as such,
with the command that shows what there is instead.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping
from typing import Any

from terrarium.client.api import ServerError, TerrariumClient
from terrarium.client.cli import connection
from terrarium.client.cli.arguments import json_or_text
from terrarium.client.cli.exits import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, Exit
from terrarium.client.cli.output import compact, out, remark, table
from terrarium.client.cli.times import ago, moment, until


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    pending = commands.add_parser(
        "pending",
        parents=[common],
        help="list the semaphore tokens waiting for a human",
        description="List pending semaphore tokens: of one agent, or of every agent.",
    )
    pending.add_argument("agent", nargs="?", help="the agent's id (default: every agent)")
    pending.add_argument("--json", action="store_true", help="print the raw TOKENs")
    pending.set_defaults(handler=run_pending)

    resolve = commands.add_parser(
        "resolve",
        parents=[common],
        help="answer a pending token: the agent resumes with the answer",
        description="Answer a pending semaphore token. ANSWER is taken as JSON if it parses "
        "(true, 3, '{\"a\": 1}', '\"quoted\"'), else as text.",
    )
    resolve.add_argument("agent", help="the agent's id")
    resolve.add_argument(
        "token_id", metavar="TOKEN", help="the token's id (see 'terrarium pending')"
    )
    resolve.add_argument("answer", help="the answer: JSON, or text")
    resolve.add_argument(
        "--any",
        action="store_true",
        help="send an answer that is not one of the token's options",
    )
    resolve.add_argument("--json", action="store_true", help="print the raw TOKEN")
    resolve.set_defaults(handler=run_resolve)

    cancel = commands.add_parser(
        "cancel",
        parents=[common],
        help="cancel a pending token: whoever waits on it gets an error",
    )
    cancel.add_argument("agent", help="the agent's id")
    cancel.add_argument(
        "token_id", metavar="TOKEN", help="the token's id (see 'terrarium pending')"
    )
    cancel.add_argument("--json", action="store_true", help="print the raw TOKEN")
    cancel.set_defaults(handler=run_cancel)


def pending_rows(tokens: list[dict[str, Any]], now: float | None = None) -> list[list[str]]:
    """The table of ``terrarium pending``: soonest deadline first, then oldest."""

    def order(token: Mapping[str, Any]) -> tuple[float, float]:
        deadline = moment(token.get("deadline"))
        created = moment(token.get("created_at"))
        return (float("inf") if deadline is None else deadline, created or 0.0)

    rows = [["AGENT", "TOKEN", "SEVERITY", "ASKED", "DEADLINE", "OPTIONS", "PROMPT"]]
    for token in sorted(tokens, key=order):
        rows.append(
            [
                str(token.get("agent_id")),
                str(token.get("id")),
                str(token.get("severity")),
                ago(token.get("created_at"), now),
                until(token.get("deadline"), now),
                ",".join(str(option) for option in token.get("options", [])) or "-",
                str(token.get("prompt") or ""),
            ]
        )
    return rows


def run_pending(args: argparse.Namespace) -> int:
    client = connection.client(args)
    try:
        tokens = client.pending(args.agent)
    except ServerError as error:
        raise _refusal(error, args.agent) from None
    if args.json:
        out(compact(tokens))
        return EXIT_OK
    if not tokens:
        out(f"no pending tokens for {args.agent}" if args.agent else "no pending tokens")
        return EXIT_OK
    out(table(pending_rows(tokens)))
    remark("answer with: terrarium resolve AGENT TOKEN ANSWER (or: terrarium cancel AGENT TOKEN)")
    return EXIT_OK


def run_resolve(args: argparse.Namespace) -> int:
    client = connection.client(args)
    answer = json_or_text(args.answer)
    if not args.any:
        _check_option(client, args.agent, args.token_id, answer)
    try:
        token = client.resolve(args.agent, args.token_id, answer)
    except ServerError as error:
        raise _refusal(error, args.agent, args.token_id) from None
    if args.json:
        out(compact(token))
    else:
        out(
            f"{args.agent}: token {token.get('id')} answered {compact(answer)}; "
            f"the agent resumes (status {token.get('status')})"
        )
    return EXIT_OK


def run_cancel(args: argparse.Namespace) -> int:
    client = connection.client(args)
    try:
        token = client.cancel(args.agent, args.token_id)
    except ServerError as error:
        raise _refusal(error, args.agent, args.token_id) from None
    if args.json:
        out(compact(token))
    else:
        out(
            f"{args.agent}: token {token.get('id')} {token.get('status')} "
            f"(asked {ago(token.get('created_at'))}); whoever waited on it gets an error"
        )
    return EXIT_OK


def _check_option(client: TerrariumClient, agent: str, token_id: str, answer: Any) -> None:
    """Refuse an answer outside the token's options (a typo must not decide): ``--any`` sends it."""
    try:
        token = client.token(agent, token_id)
    except ServerError as error:
        raise _refusal(error, agent, token_id) from None
    if token.get("status") != "pending":
        raise _not_pending(agent, token)
    options = token.get("options") or []
    if options and answer not in options:
        choices = ", ".join(shlex.quote(str(option)) for option in options)
        raise Exit(
            EXIT_USAGE,
            f"{compact(answer)} is not one of the token's options: {choices} "
            "(pass --any to send it anyway)",
        )


def _not_pending(agent: str, token: Mapping[str, Any]) -> Exit:
    return Exit(
        EXIT_FAILED,
        f"token {token.get('id')} of {agent} is {token.get('status')} already, not pending: "
        f"nothing to do (terrarium pending {agent} lists the pending ones)",
    )


def _refusal(error: ServerError, agent: str | None, token_id: str | None = None) -> Exit:
    """Purgatory's refusals in a person's words; others as every command reports them."""
    if error.code == "unknown_agent" or (error.status == 404 and token_id is None):
        return Exit(EXIT_NOT_FOUND, f"no agent {agent!r} (terrarium agents lists them)")
    if error.code == "unknown_token":
        return Exit(
            EXIT_NOT_FOUND,
            f"{agent} has no token {token_id!r} (terrarium pending {agent} lists the pending ones)",
        )
    if error.status == 409:
        token = error.body.get("token")
        return _not_pending(str(agent), token if isinstance(token, dict) else {"id": token_id})
    if error.status == 503:
        return Exit(
            EXIT_FAILED,
            f"{agent} is not running ({error}): the token stays pending; "
            "answer it once the agent runs again",
        )
    return connection.server_error(error)
