"""The ``terrarium`` console script against a real ``jupyter terrarium`` in a child process.

The last tests build command parsers from schemas alone, without a server.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from terrarium.client import find_server
from terrarium.client.cli import (
    EXIT_USAGE,
    Exit,
    command_parser,
    free_arguments,
    parse_command_arguments,
    render,
)
from tests.launcher import BIN, TOKEN, TerrariumProcess, free_port

TERRARIUM = BIN / "terrarium"
#: Guard against hangs only; nothing here depends on how fast the server is.
GUARD = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TerrariumProcess]:
    with TerrariumProcess(tmp_path_factory.mktemp("cli-server")) as process:
        _wait_healthy(process)
        yield process


def _wait_healthy(process: TerrariumProcess, base: str = "/") -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        assert process.process is not None
        if process.process.poll() is not None:
            pytest.fail(f"the server exited:\n{process.log.read_text()}")
        try:
            with opener.open(f"{process.url}{base}terrarium/api/health", timeout=5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server never answered:\n{process.log.read_text()}")


def _env(runtime_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("TERRARIUM_URL", "TERRARIUM_TOKEN", "JUPYTER_TOKEN")
    }
    env["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)
    env.update(extra)
    return env


def cli(
    *args: str, server: TerrariumProcess | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the console script; with ``server``, its URL and token are given as options."""
    options = ["--url", server.url, "--token", TOKEN] if server is not None else []
    return subprocess.run(
        [str(TERRARIUM), *options, *args],
        capture_output=True,
        text=True,
        env=env if env is not None else _env(Path("/nonexistent-runtime")),
        timeout=GUARD,
    )


def test_agents_finds_the_server_from_its_runtime_file(server: TerrariumProcess) -> None:
    done = cli("agents", env=_env(server.home / "runtime"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "GENUS", "STATE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert {"echo", "heartbeat", "slow"} <= set(rows)
    assert rows["echo"][2] == "flowing"


def test_call_parse_prints_the_json_result(server: TerrariumProcess) -> None:
    done = cli("call", "grammar", "parse", "--text", "Create a calendar", "--json", server=server)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["intent"] == "create"
    assert result["object"] == "calendar"


def test_call_by_alias_with_the_environment_prints_for_people(server: TerrariumProcess) -> None:
    env = _env(Path("/nonexistent-runtime"), TERRARIUM_URL=server.url, TERRARIUM_TOKEN=TOKEN)
    done = cli("call", "grammar", "p", "--text", "Please add a new meeting note", env=env)
    assert done.returncode == 0, done.stderr
    fields = dict(line.split(None, 1) for line in done.stdout.splitlines())
    assert fields["intent"] == "add"
    assert fields["object"] == "meeting note"
    assert fields["modifiers"] == '["new"]'


def test_a_validation_error_is_printed_per_field_with_its_exit_code(
    server: TerrariumProcess,
) -> None:
    done = cli("call", "grammar", "parse", server=server)
    assert done.returncode == EXIT_USAGE
    assert "--text: Field required" in done.stderr
    assert done.stdout == ""


def test_command_help_shows_its_arguments_and_help_text(server: TerrariumProcess) -> None:
    done = cli("call", "grammar", "parse", "--help", server=server)
    assert done.returncode == 0, done.stderr
    assert "usage: terrarium call grammar parse [--text TEXT]" in done.stdout
    assert "Parse text into sentences" in done.stdout
    assert "terrarium call grammar parse --text 'Create a calendar'" in done.stdout


def test_a_genus_alone_lists_its_commands(server: TerrariumProcess) -> None:
    done = cli("call", "grammar", server=server)
    assert done.returncode == 0, done.stderr
    assert any(line.split()[:2] == ["parse", "p"] for line in done.stdout.splitlines())


def test_perturb_sends_json_data(server: TerrariumProcess) -> None:
    done = cli("perturb", "echo", '{"a":1}', "--json", server=server)
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["type"] == "result"
    assert reply["output"] == {"a": 1}

    plain = cli("perturb", "echo", '{"a":1}', server=server)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split() == ["a", "1"]


def test_perturb_takes_text_that_is_not_json_as_a_string(server: TerrariumProcess) -> None:
    done = cli("perturb", "echo", "hello there", "--json", server=server)
    assert json.loads(done.stdout)["output"] == "hello there"


def test_perturb_reports_the_refusal(server: TerrariumProcess) -> None:
    done = cli("perturb", "echo", "1", "--priority", "500", server=server)
    assert done.returncode == EXIT_USAGE
    assert "bad_request" in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["call", "nowhere", "parse"], 5, "no genus 'nowhere'"),
        (["call", "grammar", "unparse", "--x", "1"], 5, "no command 'unparse'"),
        (["perturb", "nobody", "1"], 5, "no agent 'nobody'"),
    ],
)
def test_unknown_names_exit_5(
    server: TerrariumProcess, args: list[str], code: int, said: str
) -> None:
    done = cli(*args, server=server)
    assert done.returncode == code
    assert said in done.stderr


def test_a_wrong_token_exits_4(server: TerrariumProcess) -> None:
    env = _env(Path("/nonexistent-runtime"))
    for args in (
        ["call", "grammar", "parse", "--text", "x"],
        ["perturb", "echo", "1"],
    ):
        done = cli("--url", server.url, "--token", "wrong", *args, env=env)
        assert done.returncode == 4, done.stderr
        assert "not authorized" in done.stderr


def test_no_server_exits_3() -> None:
    done = cli("--url", f"http://127.0.0.1:{free_port()}", "agents")
    assert done.returncode == 3
    assert "cannot reach" in done.stderr
    nothing = cli("agents")
    assert nothing.returncode == 3
    assert "no running Jupyter server" in nothing.stderr


def test_observe_prints_one_line_per_event_until_interrupted(server: TerrariumProcess) -> None:
    with running("observe", "heartbeat", "--since", "0", server=server) as process:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline().split()
        second = process.stdout.readline().split()
        assert first[0] == "1" and first[2] == "state"
        assert int(second[0]) == 2
        assert json.loads(second[3])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=GUARD) == 0
        assert "# observing heartbeat" in process.stderr.read()


# -- commands left running: helpers ------------------------------------------------------------


class Reader:
    """What a running command wrote to one file descriptor (a pipe or a pty), read as it comes."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def until(self, marker: str | re.Pattern[str] | Callable[[str], bool]) -> str:
        """Read until ``marker`` (text, a regex, a test of the text) is there; all read so far."""
        deadline = time.monotonic() + GUARD
        while not self.seen(marker):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"never saw {marker!r} in:\n{self.text}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # a pty whose other end closed
                chunk = b""
            if not chunk:
                pytest.fail(f"closed before {marker!r} appeared:\n{self.text}")
            self.text += chunk.decode(errors="replace")
        return self.text

    def seen(self, marker: str | re.Pattern[str] | Callable[[str], bool]) -> bool:
        if isinstance(marker, str):
            return marker in self.text
        if isinstance(marker, re.Pattern):
            return marker.search(self.text) is not None
        return marker(self.text)


@contextlib.contextmanager
def running(
    *args: str, server: TerrariumProcess, stderr: int | None = None
) -> Iterator[subprocess.Popen[str]]:
    """The console script left running (stderr a pipe unless given); killed if still running."""
    with subprocess.Popen(
        [str(TERRARIUM), "--url", server.url, "--token", TOKEN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if stderr is None else stderr,
        text=True,
        env=_env(Path("/nonexistent-runtime")),
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Its exit code and stdout, once it ends."""
    assert process.stdout is not None
    out = process.stdout.read()
    return process.wait(timeout=GUARD), out


def ask(records: int, seconds: float = 300) -> str:
    """A request the approver must ask a human about (more than 10 records)."""
    return json.dumps({"action": "delete", "records": records, "decision_seconds": seconds})


#: A countdown redraw on a terminal, complete (up to its closing parenthesis).
FRAME = re.compile(r"\r# waiting for a human: ([^\r]*? left \(until [^)\r]*\))")
ANSWER = re.compile(r"# answer with: (terrarium .*resolve approver ([0-9a-f]+) <answer>)\n")


@contextlib.contextmanager
def waiting_for_a_human(
    server: TerrariumProcess, records: int
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``terrarium perturb approver ...`` stopped at a semaphore: the process and the token id."""
    with running("perturb", "approver", ask(records), server=server) as process:
        assert process.stderr is not None
        match = ANSWER.search(Reader(process.stderr.fileno()).until(ANSWER))
        assert match is not None
        yield process, match.group(2)


# -- pending, resolve, cancel -------------------------------------------------------------------


def test_perturb_waiting_for_a_human_says_how_to_answer_and_resolve_answers_it(
    server: TerrariumProcess,
) -> None:
    with running("perturb", "approver", ask(47), server=server) as process:
        assert process.stderr is not None
        err = Reader(process.stderr.fileno()).until(re.compile(r"waiting for a human until .*\n"))
        match = ANSWER.search(err)
        assert match is not None, err
        command, token_id = match.groups()
        assert shlex.split(command) == [
            "terrarium",
            "--url",
            server.url + "/",
            "resolve",
            "approver",
            token_id,
            "<answer>",
        ]
        assert "Delete 47 records?" in err and "<answer> is one of: Approve, Reject" in err
        # Not a terminal: the countdown is one plain line, never redrawn.
        assert re.search(r"# waiting for a human until \d\d:\d\d:\d\d \(in \d+ min\)\n", err)
        assert "\r" not in err

        listed = cli("pending", "approver", server=server)
        assert listed.returncode == 0, listed.stderr
        header, *rows = listed.stdout.splitlines()
        assert header.split() == [
            "AGENT",
            "TOKEN",
            "SEVERITY",
            "ASKED",
            "DEADLINE",
            "OPTIONS",
            "PROMPT",
        ]
        mine = next(row for row in rows if token_id in row)
        assert re.search(r"critical  +(now|\d+ (s|min) ago)  +in \d+ min( \d+ s)?  ", mine), mine
        assert mine.endswith("Delete 47 records?")
        everywhere = cli("pending", server=server)
        assert token_id in everywhere.stdout

        answered = cli("resolve", "approver", token_id, '"Approve"', server=server)  # JSON text
        assert answered.returncode == 0, answered.stderr
        assert f'token {token_id} answered "Approve"' in answered.stdout
        code, out = finish(process)
        assert code == 0
        assert out.split() == ["deleted", "47", "approved", "true"]

    again = cli("resolve", "approver", token_id, "Approve", server=server)
    assert again.returncode == 1
    assert f"token {token_id} of approver is resolved already, not pending" in again.stderr
    assert "Traceback" not in again.stderr
    gone = cli("pending", "approver", "--json", server=server)
    assert token_id not in {token["id"] for token in json.loads(gone.stdout)}


def test_an_answer_outside_the_options_needs_any_and_is_sent_as_json(
    server: TerrariumProcess,
) -> None:
    with waiting_for_a_human(server, 120) as (process, token_id):
        typo = cli("resolve", "approver", token_id, "approve", server=server)
        assert typo.returncode == EXIT_USAGE
        assert '"approve" is not one of the token\'s options: Approve, Reject' in typo.stderr
        assert "--any" in typo.stderr
        sent = cli(
            "resolve", "approver", token_id, '{"why": [1, 2]}', "--any", "--json", server=server
        )
        assert sent.returncode == 0, sent.stderr
        assert json.loads(sent.stdout)["status"] == "resuming"
        code, out = finish(process)
    assert code == 0
    assert out.split() == ["deleted", "0", "kept", "120", "approved", "false"]


def test_cancel_stops_the_wait_with_an_error(server: TerrariumProcess) -> None:
    with waiting_for_a_human(server, 99) as (process, token_id):
        cancelled = cli("cancel", "approver", token_id, server=server)
        assert cancelled.returncode == 0, cancelled.stderr
        assert re.match(
            rf"approver: token {token_id} cancelled \(asked (now|\d+ (s|min) ago)\)",
            cancelled.stdout,
        )
        code, out = finish(process)
    assert code == 1 and out == ""
    again = cli("cancel", "approver", token_id, server=server)
    assert again.returncode == 1
    assert "is cancelled already, not pending" in again.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["pending", "nobody"], "no agent 'nobody' (terrarium agents lists them)"),
        (["resolve", "nobody", "abc", "Approve"], "no agent 'nobody'"),
        (["cancel", "nobody", "abc"], "no agent 'nobody'"),
        (["resolve", "approver", "abc", "Approve"], "approver has no token 'abc'"),
        (["cancel", "approver", "abc"], "approver has no token 'abc'"),
    ],
)
def test_unknown_agents_and_tokens_are_told_without_a_traceback(
    server: TerrariumProcess, args: list[str], said: str
) -> None:
    done = cli(*args, server=server)
    assert done.returncode == 5
    assert said in done.stderr
    assert "Traceback" not in done.stderr


def test_pending_of_an_agent_with_none(server: TerrariumProcess) -> None:
    done = cli("pending", "echo", server=server)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "no pending tokens for echo\n"


def test_on_a_terminal_the_countdown_is_redrawn_in_place(server: TerrariumProcess) -> None:
    controller, terminal = pty.openpty()
    try:
        with running(
            "perturb", "approver", ask(47, 600), server=server, stderr=terminal
        ) as process:
            os.close(terminal)  # the child holds it now
            terminal = -1
            screen = Reader(controller)
            # Two different redraws of the one line: the countdown moves.
            drawn = screen.until(lambda text: len(set(FRAME.findall(text))) >= 2)
            frames = FRAME.findall(drawn)
            assert all(
                re.fullmatch(r"\d+ min( \d+ s)? left \(until \d\d:\d\d:\d\d\)", f) for f in frames
            ), frames
            match = ANSWER.search(drawn.replace("\r\n", "\n"))
            assert match is not None, drawn
            answered = cli("resolve", "approver", match.group(2), "Reject", server=server)
            assert answered.returncode == 0, answered.stderr
            code, out = finish(process)
        assert code == 0 and "approved  false" in out
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)


# -- what the server prints, as --url ---------------------------------------------------------


@pytest.fixture(scope="module")
def based_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TerrariumProcess]:
    """A second server under base_url /jb/, with the bench agent (whose genus is firehose)."""
    args = ["--ServerApp.base_url=/jb/", "--TerrariumApp.bench_agents=True"]
    with TerrariumProcess(tmp_path_factory.mktemp("cli-based"), args=args) as process:
        _wait_healthy(process, "/jb/")
        yield process


PRINTED = ["terrarium/?token={}", "lab?token={}", "lab/tree/x.ipynb?token={}", "?token={}"]


@pytest.mark.parametrize("tail", PRINTED)
def test_url_as_the_server_prints_it_gives_the_token(server: TerrariumProcess, tail: str) -> None:
    """A write (perturb) needs the token: it can only have come from the URL."""
    done = cli("--url", f"{server.url}/{tail.format(TOKEN)}", "perturb", "echo", '"via url"')
    assert done.returncode == 0, done.stderr
    assert done.stdout == "via url\n"


@pytest.mark.parametrize("tail", [*PRINTED, "tree?token={}", "notebooks/a/b.ipynb?token={}"])
def test_url_with_a_base_url(based_server: TerrariumProcess, tail: str) -> None:
    done = cli("--url", f"{based_server.url}/jb/{tail.format(TOKEN)}", "perturb", "echo", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1\n"


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1:1/", "http://", "http://127.0.0.1:port/?token=x", "   ", "http://[::1/"],
)
def test_a_url_that_is_no_server_url_is_a_usage_error(url: str) -> None:
    done = cli("--url", url, "agents")
    assert done.returncode == EXIT_USAGE
    assert "is not a server URL" in done.stderr or "URL is empty" in done.stderr
    assert "Traceback" not in done.stderr


# -- version, genera, genus column -------------------------------------------------------------


def test_version_is_the_packages() -> None:
    done = cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"terrarium {version('terrarium')}\n"


def test_call_alone_lists_the_genera(server: TerrariumProcess) -> None:
    done = cli("call", server=server)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["GENUS", "COMMANDS", "AGENTS", "DESCRIPTION"]
    agents = json.loads(cli("agents", "--json", server=server).stdout)
    members = ",".join(agent["id"] for agent in agents if agent["genus"] == "grammar") or "-"
    assert any(row.split()[:3] == ["grammar", "parse", members] for row in rows), rows
    raw = cli("call", "--json", server=server)
    genera = {genus["genus"]: genus for genus in json.loads(raw.stdout)}
    assert genera["grammar"]["commands"] == ["parse"]
    assert genera["grammar"]["description"].startswith("Parse short English commands")


def test_agents_shows_each_agents_genus(based_server: TerrariumProcess) -> None:
    done = cli("--url", f"{based_server.url}/jb/?token={TOKEN}", "agents")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()}
    assert rows["ID"][1] == "GENUS"
    assert rows["firehose"][1] == "firehose"
    assert rows["echo"][1] == "-"


# -- observe: --type and --no-history ----------------------------------------------------------


def test_observe_type_keeps_only_those_events(server: TerrariumProcess) -> None:
    args = ("observe", "heartbeat", "--since", "0", "--type", "result")
    with running(*args, server=server) as process:
        assert process.stdout is not None and process.stderr is not None
        lines = [process.stdout.readline().split() for _ in range(3)]
        assert all(line[2] == "result" for line in lines), lines
        seqs = [int(line[0]) for line in lines]
        assert seqs == sorted(seqs) and seqs[0] > 1  # seq 1 is the state event
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=GUARD) == 0
        assert "only result" in process.stderr.read()


def test_observe_types_may_be_repeated_or_comma_separated(server: TerrariumProcess) -> None:
    args = ("observe", "echo", "--since", "0", "--type", "state", "--type", "perturbation,result")
    with running(*args, "--json", server=server) as process:
        assert process.stdout is not None
        hello = json.loads(process.stdout.readline())
        assert hello["type"] == "hello"
        sent = cli("perturb", "echo", '"typed"', server=server)
        assert sent.returncode == 0, sent.stderr
        seen = []
        while not seen or seen[-1]["type"] != "result" or seen[-1]["data"]["output"] != "typed":
            seen.append(json.loads(process.stdout.readline()))
    assert {frame["type"] for frame in seen} <= {"state", "perturbation", "result", "gap"}


def test_observe_no_history_starts_from_now(server: TerrariumProcess) -> None:
    before = cli("perturb", "echo", '"before"', server=server)
    assert before.returncode == 0, before.stderr
    with running("observe", "echo", "--no-history", server=server) as process:
        assert process.stderr is not None and process.stdout is not None
        hello = Reader(process.stderr.fileno()).until(re.compile(r"# observing echo: .*\n"))
        match = re.search(r"seq (\d+),", hello)
        assert match is not None and "new events only" in hello
        attached = int(match.group(1))
        assert attached > 0
        sent = cli("perturb", "echo", '"after"', server=server)
        assert sent.returncode == 0, sent.stderr
        lines = []
        while not lines or lines[-1][2] != "result":
            lines.append(process.stdout.readline().split(None, 3))
    assert all(int(line[0]) > attached for line in lines), lines
    assert json.loads(lines[-1][3])["output"] == "after"
    assert "before" not in "".join(line[3] for line in lines)


def test_no_history_and_since_contradict(server: TerrariumProcess) -> None:
    done = cli("observe", "echo", "--no-history", "--since", "3", server=server)
    assert done.returncode == EXIT_USAGE
    assert "--no-history and --since" in done.stderr


# -- parsers from schemas alone ------------------------------------------------------------------

DESCRIPTION: dict[str, Any] = {
    "name": "plot",
    "help": "Plot some points.",
    "aliases": [],
    "examples": [{"count": 2, "mode": "fast"}],
    "arguments": {
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "ratio": {"type": "number", "default": 0.5},
            "mode": {"$ref": "#/$defs/Mode", "default": "slow"},
            "verbose": {"type": "boolean", "default": False},
            "tags": {"type": "array", "items": {"type": "string"}},
            "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
            "max_items": {"type": "integer", "default": 3},
        },
        "required": ["count"],
        "$defs": {"Mode": {"enum": ["fast", "slow"], "type": "string"}},
    },
    "result": {},
}


def test_options_are_coerced_per_schema() -> None:
    body = parse_command_arguments(
        "charts",
        DESCRIPTION,
        [
            "--count",
            "3",
            "--ratio",
            "1.5",
            "--mode",
            "fast",
            "--verbose",
            "--tags",
            "a",
            "b",
            "--limit",
            "null",
            "--max-items",
            "9",
        ],
    )
    assert body == {
        "count": 3,
        "ratio": 1.5,
        "mode": "fast",
        "verbose": True,
        "tags": ["a", "b"],
        "limit": None,
        "max_items": 9,
    }


def test_options_not_given_are_left_to_the_server_defaults() -> None:
    assert parse_command_arguments("charts", DESCRIPTION, ["--no-verbose"]) == {"verbose": False}


def test_values_that_do_not_fit_are_left_for_the_server_to_judge() -> None:
    body = parse_command_arguments("charts", DESCRIPTION, ["--count", "many", "--mode", "sideways"])
    assert body == {"count": "many", "mode": "sideways"}


def test_an_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_command_arguments("charts", DESCRIPTION, ["--colour", "red"])
    assert stopped.value.code == EXIT_USAGE
    assert "unrecognized arguments: --colour red" in capsys.readouterr().err


def test_help_is_written_from_the_schema() -> None:
    text = command_parser("charts", DESCRIPTION).format_help()
    assert "--count INT" in text and "integer, required" in text
    assert "--mode {fast,slow}" in text and 'default: "slow"' in text
    assert "--verbose, --no-verbose" in text
    assert "--max-items INT" in text
    assert "terrarium call charts plot --count 2 --mode fast" in text


def test_render_is_for_people() -> None:
    assert render("plain") == "plain"
    assert render({"a": 1, "bb": [1]}).splitlines() == ["a   1", "bb  [1]"]
    assert render([1, "x"]) == "1\nx"
    assert render(None) == "null"


def test_find_server_prefers_options_then_environment(tmp_path: Path) -> None:
    (tmp_path / f"jpserver-{os.getpid()}.json").write_text(
        json.dumps({"url": "http://127.0.0.1:9999/base/", "token": "from-file", "pid": os.getpid()})
    )
    from_file = find_server(environ={}, runtime_dir=tmp_path)
    assert (from_file.url, from_file.token) == ("http://127.0.0.1:9999/base/", "from-file")
    env = {"TERRARIUM_URL": "127.0.0.1:9999/base", "JUPYTER_TOKEN": "from-env"}
    assert find_server(environ=env, runtime_dir=tmp_path).token == "from-env"
    matched = find_server(environ={"TERRARIUM_URL": "127.0.0.1:9999/base"}, runtime_dir=tmp_path)
    assert matched.token == "from-file", "a known server's token is found by its URL"
    chosen = find_server("http://other:1", "t", environ=env, runtime_dir=tmp_path)
    assert (chosen.url, chosen.token) == ("http://other:1/", "t")


def test_the_command_line_needs_no_tornado_nor_jupyter_server(tmp_path: Path) -> None:
    probe = (
        "import sys, pathlib, terrarium.client.cli, terrarium.client\n"
        "terrarium.client.running_servers(pathlib.Path(sys.argv[1]))\n"
        "terrarium.client.find_server('http://127.0.0.1:1', None, environ={})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tornado', 'jupyter_server', 'jupyter_extension')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=GUARD,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_a_command_the_listing_does_not_show_takes_free_name_value_pairs() -> None:
    assert free_arguments(["--count", "3", "--name=x", "--max-items", '["a"]']) == {
        "count": 3,
        "name": "x",
        "max_items": ["a"],
    }
    with pytest.raises(Exit) as stopped:
        free_arguments(["stray"])
    assert stopped.value.code == EXIT_USAGE


def test_observe_says_when_a_stream_started_over_or_its_server_is_gone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What ``terrarium observe`` prints for a reset hello and a dead owner's state events."""
    import argparse
    import asyncio

    from terrarium.client.cli.observe import print_frames

    frames = [
        {"type": "hello", "agent_id": "echo", "seq": 3, "epoch": "e2", "reset": True},
        {"seq": 1, "ts": 0.0, "type": "state", "data": {"state": "unavailable"}},
        {"seq": 2, "ts": 0.0, "type": "state", "data": {"state": "available"}},
    ]

    async def stream() -> Any:
        for frame in frames:
            yield frame

    asyncio.run(print_frames(stream(), argparse.Namespace(json=False)))
    err = capsys.readouterr().err
    assert "the stream started over (epoch e2)" in err
    assert "is gone" in err
    assert "another server runs this agent now" in err
