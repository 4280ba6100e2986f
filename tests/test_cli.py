"""The ``terrarium`` console script against a real ``jupyter terrarium`` in a child process.

The last tests build command parsers from schemas alone, without a server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from terrarium.cli import (
    EXIT_USAGE,
    Exit,
    command_parser,
    free_arguments,
    parse_command_arguments,
    render,
)
from terrarium.client import find_server
from tests.launcher import BIN, TOKEN, TerrariumProcess, free_port

TERRARIUM = BIN / "terrarium"
#: Guard against hangs only; nothing here depends on how fast the server is.
GUARD = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TerrariumProcess]:
    with TerrariumProcess(tmp_path_factory.mktemp("cli-server")) as process:
        _wait_healthy(process)
        yield process


def _wait_healthy(process: TerrariumProcess) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        assert process.process is not None
        if process.process.poll() is not None:
            pytest.fail(f"the server exited:\n{process.log.read_text()}")
        try:
            with opener.open(f"{process.url}/terrarium/api/health", timeout=5):
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
    process = subprocess.Popen(
        [str(TERRARIUM), "--url", server.url, "observe", "heartbeat", "--since", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(Path("/nonexistent-runtime")),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().split()
        second = process.stdout.readline().split()
        assert first[0] == "1" and first[2] == "state"
        assert int(second[0]) == 2
        assert json.loads(second[3])
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=GUARD) == 0
        assert process.stderr is not None
        assert "# observing heartbeat" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


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
        "import sys, pathlib, terrarium.cli, terrarium.client\n"
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

    from terrarium.cli import _print_frames

    frames = [
        {"type": "hello", "agent_id": "echo", "seq": 3, "epoch": "e2", "reset": True},
        {"seq": 1, "ts": 0.0, "type": "state", "data": {"state": "unavailable"}},
        {"seq": 2, "ts": 0.0, "type": "state", "data": {"state": "available"}},
    ]

    async def stream() -> Any:
        for frame in frames:
            yield frame

    asyncio.run(_print_frames(stream(), argparse.Namespace(json=False)))
    err = capsys.readouterr().err
    assert "the stream started over (epoch e2)" in err
    assert "is gone" in err
    assert "another server runs this agent now" in err
