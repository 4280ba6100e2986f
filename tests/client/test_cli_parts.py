"""The command line's parts that need no server: times for people, the countdown, URL parsing."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest

from terrarium.client import BadURL, find_server, server_url
from terrarium.client.cli.countdown import Countdown, countdown_text
from terrarium.client.cli.purgatory import pending_rows
from terrarium.client.cli.times import ago, clock, duration, moment, relative, until

NOW = 1_800_000_000.0


# -- times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "plain", "precise"),
    [
        (0, "0 s", "0 s"),
        (0.9, "0 s", "0 s"),
        (45, "45 s", "45 s"),
        (59.99, "59 s", "59 s"),
        (60, "1 min", "1 min"),
        (185, "3 min", "3 min 5 s"),
        (3_600, "1 h", "1 h"),
        (3_600 + 125, "1 h 2 min", "1 h 2 min"),
        (2 * 86_400 + 3 * 3_600 + 7, "2 d 3 h", "2 d 3 h"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds: float, plain: str, precise: str) -> None:
    assert duration(seconds) == plain
    assert duration(seconds, precise=True) == precise


def test_relative_times_point_both_ways() -> None:
    assert relative(NOW - 180, NOW) == "3 min ago"
    assert relative(NOW + 45, NOW) == "in 45 s"
    assert relative(NOW + 0.4, NOW) == "now"
    assert relative(NOW + 299.5, NOW, precise=True) == "in 4 min 59 s"


def test_the_servers_times_are_read_from_iso_text_or_seconds() -> None:
    assert moment("2027-01-15T08:00:00Z") == moment("2027-01-15T08:00:00+00:00")
    assert moment("2027-01-15T08:00:00") == moment("2027-01-15T08:00:00Z"), "naive is UTC"
    assert moment(NOW) == NOW
    assert moment(None) is None and moment("soon") is None and moment(True) is None
    iso = "2027-01-15T08:00:00Z"
    at = moment(iso)
    assert at is not None
    assert ago(iso, at + 125) == "2 min ago"
    assert until(iso, at - 45) == "in 45 s"
    assert until(iso, at + 3) == "passed 3 s ago"
    assert until(None, at) == "none"
    assert ago(None) == "-"


def test_a_clock_time_names_the_day_only_when_it_is_not_today() -> None:
    assert clock(NOW, NOW) == time.strftime("%H:%M:%S", time.localtime(NOW))
    other_day = clock(NOW - 3 * 86_400, NOW)
    assert other_day.endswith(time.strftime("%H:%M:%S", time.localtime(NOW - 3 * 86_400)))
    assert len(other_day.split()) == 3


def test_pending_rows_put_the_soonest_deadline_first() -> None:
    def token(name: str, created: float, deadline: float | None) -> dict[str, object]:
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(deadline)) if deadline else None
        return {
            "id": name,
            "agent_id": "approver",
            "severity": "info",
            "prompt": f"{name}?",
            "options": ["yes", "no"],
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
            "deadline": iso,
        }

    rows = pending_rows(
        [
            token("none", NOW - 10, None),
            token("late", NOW - 5, NOW + 600),
            token("soon", NOW - 180, NOW + 45),
        ],
        NOW,
    )
    assert [row[1] for row in rows[1:]] == ["soon", "late", "none"]
    assert rows[1][3:6] == ["3 min ago", "in 45 s", "yes,no"]
    assert rows[3][4] == "none"


# -- the countdown --------------------------------------------------------------------------


def test_countdown_text() -> None:
    assert countdown_text(NOW + 299.5, NOW, NOW).startswith("waiting for a human: 4 min 59 s left")
    assert "passed 2 s ago" in countdown_text(NOW - 2, NOW - 60, NOW)
    assert countdown_text(None, NOW - 65, NOW) == "waiting for a human for 1 min 5 s (no deadline)"


class Screen(io.StringIO):
    """A stream that is a terminal or not, and says when it has had ``redraws`` carriage returns."""

    def __init__(self, tty: bool, redraws: int = 0) -> None:
        super().__init__()
        self.tty = tty
        self.redraws = redraws
        self.drawn = asyncio.Event()

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.getvalue().count("\r") >= self.redraws:
            self.drawn.set()
        return written


def test_not_on_a_terminal_the_countdown_is_one_plain_line() -> None:
    async def scenario() -> str:
        screen = Screen(tty=False)
        countdown = Countdown(NOW + 125, screen, clock=lambda: NOW).start()
        await asyncio.sleep(0)
        await countdown.stop()
        return screen.getvalue()

    text = asyncio.run(scenario())
    assert text == f"# waiting for a human until {clock(NOW + 125, NOW)} (in 2 min)\n"


def test_on_a_terminal_the_countdown_redraws_one_line_and_wipes_it() -> None:
    async def scenario() -> str:
        screen = Screen(tty=True, redraws=3)
        ticks = iter([NOW, NOW, NOW + 1, NOW + 2])
        last = NOW + 2

        def now() -> float:
            return next(ticks, last)

        countdown = Countdown(NOW + 70, screen, clock=now).start()
        await screen.drawn.wait()
        await countdown.stop()
        return screen.getvalue()

    text = asyncio.run(scenario())
    assert "\n" not in text
    frames = [frame.rstrip() for frame in text.split("\r") if frame.strip()]
    assert frames[:3] == [
        f"# waiting for a human: {left} left (until {clock(NOW + 70, NOW)})"
        for left in ("1 min 10 s", "1 min 9 s", "1 min 8 s")
    ]
    assert text.endswith("\r" + " " * len(frames[0]) + "\r"), "the line is wiped at the end"


# -- URLs as the server prints them ---------------------------------------------------------


@pytest.mark.parametrize(
    ("pasted", "base", "token"),
    [
        ("http://127.0.0.1:8888/terrarium/?token=abc", "http://127.0.0.1:8888/", "abc"),
        ("http://127.0.0.1:8888/lab?token=abc", "http://127.0.0.1:8888/", "abc"),
        ("http://localhost:8888/lab/tree/dir/x.ipynb?token=t1", "http://localhost:8888/", "t1"),
        ("http://127.0.0.1:8888/?token=abc", "http://127.0.0.1:8888/", "abc"),
        ("http://127.0.0.1:8888/tree?token=abc", "http://127.0.0.1:8888/", "abc"),
        ("https://hub.example/user/ann/lab?token=x", "https://hub.example/user/ann/", "x"),
        ("http://h:1/jb/notebooks/a.ipynb?token=z#cell", "http://h:1/jb/", "z"),
        ("http://h:1/jb/terrarium/api/agents", "http://h:1/jb/", None),
        ("127.0.0.1:8888", "http://127.0.0.1:8888/", None),
        ("127.0.0.1:8888/base", "http://127.0.0.1:8888/base/", None),
        ("ws://127.0.0.1:8888/terrarium/observe/echo", "http://127.0.0.1:8888/", None),
        ("http://[::1]:8888/lab?token=v6", "http://[::1]:8888/", "v6"),
    ],
)
def test_server_url_takes_the_base_and_the_token(pasted: str, base: str, token: str | None) -> None:
    assert server_url(pasted) == (base, token)


def test_a_running_servers_own_url_is_its_base() -> None:
    """A base URL made of a Jupyter page's name is kept when a runtime file says so."""
    assert server_url("http://h:1/lab/lab?token=t", ["http://h:1/lab/"]) == ("http://h:1/lab/", "t")
    assert server_url("http://h:1/lab/lab?token=t") == ("http://h:1/", "t")


@pytest.mark.parametrize(
    "url", ["", "ftp://h/", "http://", "http://h:port/", "http://h:99999999/", "http://[::1/"]
)
def test_what_is_no_server_url_is_refused_clearly(url: str) -> None:
    with pytest.raises(BadURL) as refused:
        server_url(url)
    assert "URL" in str(refused.value)


def test_the_token_of_a_url_ranks_after_the_option_and_before_the_environment(
    tmp_path: Path,
) -> None:
    env = {"TERRARIUM_TOKEN": "from-env"}
    pasted = "http://127.0.0.1:9/lab?token=from-url"
    assert find_server(pasted, None, environ=env, runtime_dir=tmp_path).token == "from-url"
    assert find_server(pasted, "given", environ=env, runtime_dir=tmp_path).token == "given"
    plain = find_server("http://127.0.0.1:9/lab", None, environ=env, runtime_dir=tmp_path)
    assert (plain.url, plain.token) == ("http://127.0.0.1:9/", "from-env")
    from_env = find_server(environ={"TERRARIUM_URL": pasted}, runtime_dir=tmp_path)
    assert (from_env.url, from_env.token) == ("http://127.0.0.1:9/", "from-url")
    with pytest.raises(BadURL, match=r"TERRARIUM_URL"):
        find_server(environ={"TERRARIUM_URL": "ftp://x"}, runtime_dir=tmp_path)
