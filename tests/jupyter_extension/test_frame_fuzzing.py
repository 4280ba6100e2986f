"""Hypothesis against a live server: what the Beam and the publish socket do with any frame.

Each test drives a real Jupyter server (tests/jupyter_extension/conftest.py) over raw
RFC 6455 (``WireSocket`` in tests/jupyter_extension/fuzzing.py), so it decides every
byte: the JSON inside a frame, and the frame itself (fragments, control
frames, reserved bits and opcodes, masks, lengths). Every input has one
specific answer, asserted exactly: ``FRAME_CLASSES`` lists one input of each
class with its answer, and the hypothesis tests draw variants of every class
and compute the answer from the same rules (``expected_reply``,
``Violation``, ``relayed_as``):

- JSON-level errors on the Beam (PROTOCOL.md section 3) are an ``error`` reply
  with ``code`` ``bad_request`` and the request's ``id`` when it could be
  read (``null`` otherwise); the socket stays open and answers the next
  request. On the publish socket a bad kernel frame is ignored; the kernel
  goes on serving its calls.
- Frame-level faults get what Tornado 6 does (``tornado/websocket.py``,
  ``WebSocketProtocol13._receive_frame`` and ``_handle_message``); where that
  differs from RFC 6455 the test says so (``RFC 6455 would`` comments) and
  asserts Tornado's answer, so a change in either shows here.

How hypothesis meets the server's event loop
--------------------------------------------
pytest-jupyter runs an ``async def`` test with ``loop.run_until_complete`` on
the loop that also runs the server, and hypothesis' ``@given`` cannot wrap a
coroutine function. So each test here is a plain ``def``, which
pytest-jupyter simply calls, with the server's loop (``jp_asyncio_loop``)
idle while it runs. The test sets up its sockets, then calls an inner
``@given`` function whose every example runs its coroutine to completion on
that same loop with ``run_until_complete`` (``fuzzing.run``), exactly as the
fixtures themselves start and stop the server. Between examples the loop
(and so the server) is paused, and sockets keep their bytes in the kernel
until it runs again. Nothing runs on a second thread, no coroutine crosses
threads, failures and shrinking work as for any sync hypothesis test, and
one server (and the same sockets) serves every example of a test. The
inner function's fixtures are the outer test's, shared on purpose, hence
``HealthCheck.function_scoped_fixture`` is suppressed. ``database=None``: no
example database, so a run never replays another run's failures against a
server in another state (each run is its own random sample).

Liveness: after every example ``GET terrarium/api/health`` must answer 200,
and after every batch of examples (and at the end) an observer of
``heartbeat`` opened once per test must receive an event newer than any it
saw (the heartbeat ticks every 0.5 s: a check per example would cost that
much each). A long-lived "witness" Beam must keep answering.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tornado.websocket import WebSocketClientConnection

from tests.jupyter_extension.fuzzing import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Liveness,
    Outcome,
    WireSocket,
    beam_works,
    close_payload,
    run,
    wire_frame,
)
from tests.jupyter_extension.helpers import Gateway, receive

#: The Beam's frame limit in the tests that exceed it (PROTOCOL.md section 3).
LIMIT = 4096
small_frames = pytest.mark.terrarium(max_message_size=LIMIT)
#: Tornado's own limit, which the publish socket keeps (it has no Terrarium limit).
TORNADO_LIMIT = 10 * 1024 * 1024
#: Python refuses to parse integers longer than this (``sys.get_int_max_str_digits``).
MAX_DIGITS = 4300
TOO_BIG = b"\x03\xf1message too big"  # close 1009 with Tornado's reason


def fuzz(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def sanitise(value: Any) -> Any:
    """What the server's encoder makes of a value: non-finite floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: sanitise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [sanitise(item) for item in value]
    return value


# -- strategies -----------------------------------------------------------------------------


def json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Any JSON value Python can write, NaN and the infinities included (as literals)."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(text.filter(lambda key: key != "timeout"), children, max_size=4)
        ),
        max_leaves=12,
    )


#: Strings a UTF-8 text frame can carry (no lone surrogates), wide characters welcome.
utf8_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
any_json = json_values(st.text(max_size=12))
utf8_json = json_values(utf8_text)


@dataclass(frozen=True)
class Part:
    """One member of a hand-written request frame: its JSON text, its parsed value,
    whether the member is acceptable, and whether the text parses at all."""

    text: str
    value: Any = None
    ok: bool = True
    parses: bool = True


def parts(values: st.SearchStrategy[Any], ok: bool) -> st.SearchStrategy[Part]:
    return values.map(lambda value: Part(json.dumps(value), value, ok))


def literal(text: str, value: Any, ok: bool) -> Part:
    return Part(text, value, ok)


NON_FINITE = [("NaN", math.nan), ("Infinity", math.inf), ("-Infinity", -math.inf)]
not_strings = st.integers() | st.floats() | st.none() | st.booleans() | st.lists(st.integers())
huge_integers = st.sampled_from([30, MAX_DIGITS - 1, MAX_DIGITS, MAX_DIGITS + 1, 6000]).map(
    lambda digits: Part("9" * digits, None, False, parses=digits <= MAX_DIGITS)
)


def either(good: st.SearchStrategy[Part], bad: st.SearchStrategy[Part]) -> st.SearchStrategy[Part]:
    """``good`` two times in three (``|`` would weigh each alternative inside ``bad`` alike)."""
    return st.integers(0, 2).flatmap(lambda pick: good if pick else bad)


ids = either(
    parts(st.text(max_size=10), True),
    parts(not_strings | st.dictionaries(utf8_text, st.integers()), False),
)
datas = either(
    parts(any_json, True)
    | st.sampled_from(NON_FINITE).map(lambda pair: literal(f"[{pair[0]}, 1]", [pair[1], 1], True)),
    st.sampled_from([1, 50, 98, 99, 100, 101, 1000, 100_000]).map(
        # Inside the frame's own object: depth + 1 levels in all.
        lambda depth: Part(nested(depth), json.loads(nested(min(depth, 99))), parses=depth < 100)
    )
    | st.sampled_from([1, 300, MAX_DIGITS, MAX_DIGITS + 1]).map(
        lambda digits: Part(
            "7" * digits, int("7" * min(digits, MAX_DIGITS)), parses=digits <= MAX_DIGITS
        )
    ),
)


def valid_priority(value: Any) -> bool:
    """PROTOCOL.md section 3: absent or null, or an integer 1..199; a number with no
    fractional part (``100.0``) is that integer, as in JSON Schema."""
    if value is None:
        return True
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return type(value) is int and 1 <= value <= 199


def valid_timeout(value: Any) -> bool:
    """Absent or null, or a number of seconds above 0 and under a day."""
    if value is None:
        return True
    return type(value) in (int, float) and 0 < value < 86400


def judged(values: st.SearchStrategy[Any], rule: Callable[[Any], bool]) -> st.SearchStrategy[Part]:
    return values.map(lambda value: Part(json.dumps(value), value, rule(value)))


def judged_literals(pairs: list[tuple[str, Any]], rule: Callable[[Any], bool]) -> Any:
    return st.sampled_from(pairs).map(lambda pair: literal(pair[0], pair[1], rule(pair[1])))


priorities = either(
    judged(st.none() | st.integers(1, 199) | st.integers(1, 199).map(float), valid_priority),
    judged(st.integers(max_value=0) | st.integers(min_value=200), valid_priority)
    | judged(st.floats() | st.booleans() | st.text(max_size=4), valid_priority)
    | judged(st.lists(st.integers(), max_size=2), valid_priority)
    | judged_literals([*NON_FINITE, ("1e400", math.inf), ("1e2", 100.0)], valid_priority)
    | huge_integers,
)
timeouts = either(
    judged(st.none() | st.integers(30, 86399) | st.floats(30, 86399.5), valid_timeout),
    judged(st.floats(max_value=0) | st.integers(max_value=0), valid_timeout)
    | judged(st.floats(min_value=86400) | st.integers(min_value=86400), valid_timeout)
    | judged(st.booleans() | st.text(max_size=4) | st.lists(st.integers()), valid_timeout)
    | judged_literals([*NON_FINITE, ("1e400", math.inf), ("-0.0", -0.0)], valid_timeout)
    | huge_integers,
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A request frame with every member right or wrong in its own way, and its answer."""
    members: dict[str, Part] = {}
    for name, strategy in (
        ("id", ids),
        ("data", datas),
        ("priority", priorities),
        ("timeout", timeouts),
    ):
        if draw(st.integers(0, 5)):  # each member present five times in six
            members[name] = draw(strategy)
    if draw(st.booleans()):
        members["extra"] = Part(json.dumps(draw(any_json)))
    order = draw(st.permutations(list(members)))
    text = "{" + ", ".join(f"{json.dumps(name)}: {members[name].text}" for name in order) + "}"
    return text, expected_reply(members)


def expected_reply(members: dict[str, Part]) -> dict[str, Any]:
    """PROTOCOL.md section 3, for a frame written member by member."""
    if not all(part.parses for part in members.values()):
        return {"type": "error", "id": None, "code": "bad_request"}  # not JSON: no id known
    cid_part = members.get("id")
    cid = cid_part.value if cid_part is not None and cid_part.ok else None
    accepted = (
        cid is not None
        and "data" in members
        and all(members[name].ok for name in ("priority", "timeout") if name in members)
    )
    if not accepted:
        return {"type": "error", "id": cid, "code": "bad_request"}
    return {"type": "result", "id": cid, "output": sanitise(members["data"].value)}


def expected_for_value(value: Any) -> dict[str, Any]:
    """The same rules for a frame that is any JSON value (no ``timeout`` member)."""
    if not isinstance(value, dict):
        return {"type": "error", "id": None, "code": "bad_request"}
    members = {
        name: Part("", value[name], name != "id" or isinstance(value[name], str))
        for name in ("id", "data")
        if name in value
    }
    if "priority" in value:
        members["priority"] = Part("", value["priority"], valid_priority(value["priority"]))
    return expected_reply(members)


def assert_reply(reply: dict[str, Any], expected: dict[str, Any]) -> None:
    if expected["type"] == "error":
        assert set(reply) == {"type", "id", "code", "message"}, reply
        assert isinstance(reply["message"], str) and reply["message"], reply
        assert {key: reply[key] for key in expected} == expected, (reply, expected)
    else:
        assert set(reply) == {"type", "id", "perturbation_id", "output"}, reply
        assert isinstance(reply["perturbation_id"], str), reply
        assert (reply["type"], reply["id"]) == ("result", expected["id"]), (reply, expected)
        assert reply["output"] == expected["output"], (reply, expected)


# -- frame-level encodings ----------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """A message as frames on the wire, and the payloads of the pings among them."""

    frames: tuple[bytes, ...]
    pings: tuple[bytes, ...]


@dataclass(frozen=True)
class Framing:
    """How to put a message on the wire: split at ``cuts`` (per mille of its length, so
    at any byte of a short message, inside a UTF-8 character included), with control
    frames (opcode, payload, masked) before each fragment after the first, and each
    fragment masked or not."""

    opcode: int
    cuts: tuple[int, ...]
    controls: tuple[tuple[tuple[int, bytes, bool], ...], ...]
    masked: tuple[bool, ...]

    def encode(self, message: bytes) -> Encoded:
        cuts = [len(message) * cut // 1000 for cut in self.cuts]
        pieces = [message[a:b] for a, b in itertools.pairwise([0, *cuts, len(message)])]
        frames: list[bytes] = []
        pings: list[bytes] = []
        for index, piece in enumerate(pieces):
            for opcode, payload, masked in self.controls[index - 1] if index else ():
                frames.append(wire_frame(opcode, payload, masked=masked))
                if opcode == PING:
                    pings.append(payload)
            last = index == len(pieces) - 1
            opcode = self.opcode if index == 0 else CONTINUATION
            frames.append(wire_frame(opcode, piece, fin=last, masked=self.masked[index]))
        return Encoded(tuple(frames), tuple(pings))


@st.composite
def framings(draw: st.DrawFn, opcodes: tuple[int, ...] = (TEXT,)) -> Framing:
    """Pings and unsolicited pongs between fragments; most frames masked, some not."""
    cuts = tuple(sorted(draw(st.lists(st.integers(0, 1000), max_size=4))))
    control = st.tuples(st.sampled_from([PING, PONG]), st.binary(max_size=125), st.booleans())
    controls = tuple(draw(st.lists(control, max_size=2)) for _ in cuts)
    masked = tuple(draw(st.integers(0, 3)) > 0 for _ in range(len(cuts) + 1))
    return Framing(draw(st.sampled_from(opcodes)), cuts, tuple(map(tuple, controls)), masked)


# -- fixtures --------------------------------------------------------------------------------


@dataclass
class Bench:
    """What a test keeps across its examples: the loop, the liveness probe and a witness."""

    loop: asyncio.AbstractEventLoop
    gateway: Gateway
    token: str
    live: Liveness
    witness: WireSocket

    def run(self, coroutine: Any) -> Any:
        return run(self.loop, coroutine)

    async def beam(self, agent_id: str = "echo") -> WireSocket:
        return await WireSocket.open(
            self.gateway, self.gateway.path("perturb", agent_id), auth(self.token)
        )

    async def alive(self, every: int) -> None:
        """The server goes on: health, the witness Beam, the heartbeat (per batch)."""
        await beam_works(self.witness, "witness")
        await self.live.check(every)

    def finish(self, caplog: pytest.LogCaptureFixture) -> None:
        self.run(self.live.beating())
        self.run(self.live.healthy())
        errors = [
            record.getMessage()
            for record in caplog.records
            if record.levelname in ("ERROR", "CRITICAL")
            or (record.exc_info and record.levelno > 10)
        ]
        assert not errors, errors


@pytest.fixture
def bench(jp_asyncio_loop: asyncio.AbstractEventLoop, gateway: Gateway, token: str) -> Bench:
    async def start() -> Bench:
        live = await Liveness.start(gateway)
        witness = await WireSocket.open(gateway, gateway.path("perturb", "echo"), auth(token))
        return Bench(jp_asyncio_loop, gateway, token, live, witness)

    return run(jp_asyncio_loop, start())


# -- the Beam: JSON inside well-formed frames ------------------------------------------------


request_like = st.fixed_dictionaries(
    {"id": st.text(max_size=8) | any_json, "data": any_json},
    optional={"priority": st.integers(-2, 202) | any_json, "note": any_json},
)


def test_the_beam_answers_any_json_per_the_protocol(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    beam = bench.run(bench.beam())

    @fuzz(100)
    @given(st.lists(any_json | request_like, min_size=1, max_size=4))
    def example(values: list[Any]) -> None:
        async def go() -> None:
            for value in values:
                await beam.send_text(json.dumps(value))
                assert_reply(await beam.reply(), expected_for_value(value))
            await beam_works(beam)
            await bench.alive(every=20)

        bench.run(go())

    example()
    bench.finish(caplog)


def test_the_beam_refuses_right_shapes_with_wrong_types(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    """Wrong id, data missing, bad priority or timeout (NaN, Infinity, huge, negative,
    strings, booleans), 100,000-deep data and over-long integers: one answer each."""
    beam = bench.run(bench.beam())

    @fuzz(200)
    @given(requests())
    def example(request: tuple[str, dict[str, Any]]) -> None:
        text, expected = request
        event(f"{expected['type']} (id {'null' if expected['id'] is None else 'kept'})")

        async def go() -> None:
            await beam.send_text(text)
            assert_reply(await beam.reply(), expected)
            await beam_works(beam)
            await bench.alive(every=40)

        bench.run(go())

    example()
    bench.finish(caplog)


# -- the Beam: fragments, control frames, binary and empty frames -------------------------


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, int, dict[str, Any]]:
    """A message for a well-formed (possibly fragmented) frame, and its answer."""
    kind = draw(st.sampled_from(["request", "request", "request", "empty", "junk", "binary-junk"]))
    if kind == "request":
        cid, data = draw(utf8_text), draw(utf8_json)
        payload = json.dumps({"id": cid, "data": data}, ensure_ascii=False).encode()
        opcode = draw(st.sampled_from([TEXT, TEXT, BINARY]))
        return payload, opcode, {"type": "result", "id": cid, "output": sanitise(data)}
    refusal = {"type": "error", "id": None, "code": "bad_request"}
    if kind == "empty":
        return b"", draw(st.sampled_from([TEXT, BINARY])), refusal
    if kind == "junk":
        junk = draw(utf8_text.filter(lambda text: not _parses(text))).encode()
        return junk, draw(st.sampled_from([TEXT, BINARY])), refusal
    # A binary frame is parsed as JSON bytes (UTF-8, or UTF-16/32 when it looks like it):
    # two 0xff bytes are none of them.
    return b"\xff\xff" + draw(st.binary(max_size=20)), BINARY, refusal


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_the_beam_reassembles_fragments_and_answers_control_frames(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    """Fragments split anywhere (a UTF-8 character included) make one message; a ping
    between them is answered with a pong of its payload, an unsolicited pong is
    ignored; unmasked frames are taken too (RFC 6455 section 5.1 would have the
    server close the connection); binary frames are parsed as JSON like text
    ones; an empty frame is ``bad_request``. The socket stays open throughout."""
    beam = bench.run(bench.beam())

    @fuzz(100)
    @given(st.data())
    def example(data: st.DataObject) -> None:
        message, opcode, expected = data.draw(messages())
        encoded = data.draw(framings((opcode,))).encode(message)

        async def go() -> None:
            await beam.send_frames(encoded.frames)
            outcome = await beam.outcome()
            assert outcome.kind == "text", outcome
            assert outcome.pongs == encoded.pings
            assert_reply(outcome.json(), expected)
            await beam_works(beam)
            await bench.alive(every=20)

        bench.run(go())

    example()
    bench.finish(caplog)


# -- the Beam: protocol violations -----------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """Frames that break RFC 6455 or a limit, and what the server answers.

    ``close`` is the payload of the close frame the server sends before it ends
    the stream, or None when it drops the connection without one.
    """

    name: str
    frames: tuple[bytes, ...]
    close: bytes | None


DROPPED = None
VALID_CLOSE_CODES = st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011]) | (
    st.integers(3000, 4999)
)
INVALID_CLOSE_CODES = st.sampled_from([0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2999]) | (
    st.integers(5000, 65535)
)
INVALID_UTF8 = [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
REQUEST = b'{"id": "v", "data": "\xc3\xa9t\xc3\xa9"}'


@st.composite
def violations(draw: st.DrawFn, limit: int) -> Violation:
    masked = draw(st.integers(0, 3)) > 0
    kind = draw(
        st.sampled_from(
            [
                "invalid-utf8",
                "continuation-first",
                "data-inside-fragments",
                "fragmented-control",
                "long-control",
                "reserved-bits",
                "reserved-opcode",
                "close",
                "close-invalid-code",
                "close-empty",
                "close-one-byte",
                "close-invalid-reason",
                "too-big",
                "too-big-header-only",
                "too-big-fragments",
            ]
        )
    )

    def frame(opcode: int, payload: bytes = b"", **options: Any) -> bytes:
        return wire_frame(opcode, payload, masked=masked, **options)

    if kind == "invalid-utf8":
        # RFC 6455 section 8.1 would fail the connection with close 1007.
        at = draw(st.integers(0, len(REQUEST)))
        bad = REQUEST[:at] + draw(st.sampled_from(INVALID_UTF8)) + REQUEST[at:]
        encoded = draw(framings()).encode(bad)
        return Violation(kind, encoded.frames, DROPPED)
    if kind == "continuation-first":
        payload = draw(st.binary(max_size=20))
        return Violation(kind, (frame(CONTINUATION, payload, fin=draw(st.booleans())),), DROPPED)
    if kind == "data-inside-fragments":
        first = frame(draw(st.sampled_from([TEXT, BINARY])), b'{"id":', fin=False)
        second = frame(draw(st.sampled_from([TEXT, BINARY])), b'"x", "data": 1}')
        return Violation(kind, (first, second), DROPPED)
    if kind == "fragmented-control":
        opcode = draw(st.sampled_from([PING, PONG, CLOSE]))
        return Violation(kind, (frame(opcode, b"\x03\xe8", fin=False),), DROPPED)
    if kind == "long-control":
        opcode = draw(st.sampled_from([PING, PONG, CLOSE]))
        payload = close_payload(1000, b"x" * draw(st.integers(124, 200)))
        return Violation(kind, (frame(opcode, payload),), DROPPED)
    if kind == "reserved-bits":
        opcode = draw(st.sampled_from([TEXT, BINARY, PING, PONG, CLOSE]))
        payload = REQUEST if opcode in (TEXT, BINARY) else b""
        return Violation(kind, (frame(opcode, payload, rsv=draw(st.integers(1, 7))),), DROPPED)
    if kind == "reserved-opcode":
        opcode = draw(st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]))
        return Violation(kind, (frame(opcode, draw(st.binary(max_size=20))),), DROPPED)
    if kind == "close":
        code = draw(VALID_CLOSE_CODES)
        reason = draw(utf8_text).encode()
        # Tornado echoes the code, without the reason, and ends the stream.
        return Violation(kind, (frame(CLOSE, close_payload(code, reason)),), close_payload(code))
    if kind == "close-invalid-code":
        # RFC 6455 section 7.4 would fail the connection with 1002; Tornado echoes it.
        code = draw(INVALID_CLOSE_CODES)
        return Violation(kind, (frame(CLOSE, close_payload(code)),), close_payload(code))
    if kind == "close-empty":
        return Violation(kind, (frame(CLOSE),), b"")
    if kind == "close-one-byte":
        # RFC 6455 section 5.5.1: a body starts with a 2-byte code, so this is a protocol
        # error (1002); Tornado reads no code and answers with an empty close.
        return Violation(kind, (frame(CLOSE, bytes([draw(st.integers(0, 255))])),), b"")
    if kind == "close-invalid-reason":
        # RFC 6455 section 8.1 would fail with 1007; Tornado's decode raises and it aborts.
        reason = draw(st.sampled_from(INVALID_UTF8))
        code = draw(VALID_CLOSE_CODES)
        return Violation(kind, (frame(CLOSE, close_payload(code, reason)),), DROPPED)
    opcode = draw(st.sampled_from([TEXT, BINARY]))
    if kind == "too-big":
        size = draw(st.integers(limit + 1, limit + 4096))
        return Violation(kind, (frame(opcode, b" " * size),), TOO_BIG)
    if kind == "too-big-header-only":
        # Only the header: the server refuses on the length alone, before any payload.
        length = draw(st.integers(limit + 1, 2**64 - 1))
        header = frame(opcode, b"", length=length)
        return Violation(kind, (header[: len(header) - (4 if masked else 0)],), TOO_BIG)
    first = draw(st.integers(0, limit))
    second = draw(st.integers(limit - first + 1, limit - first + 4096))
    pieces = (
        frame(opcode, b" " * first, fin=False),
        frame(PING, b"between"),
        frame(CONTINUATION, b" " * second),
    )
    return Violation(kind, pieces, TOO_BIG)


async def assert_violation_answer(raw: WireSocket, violation: Violation) -> Outcome:
    outcome = await raw.outcome()
    if violation.close is DROPPED:
        assert outcome.kind == "dropped", (violation.name, outcome)
    else:
        assert outcome.kind == "close", (violation.name, outcome)
        assert outcome.payload == violation.close, (violation.name, outcome)
        assert await raw.ended(), f"{violation.name}: the stream stayed open after the close"
    return outcome


@small_frames
def test_the_beam_answers_each_protocol_violation_as_tornado_does(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    @fuzz(150)
    @given(violations(LIMIT))
    def example(violation: Violation) -> None:
        event(violation.name)

        async def go() -> None:
            raw = await bench.beam()
            await beam_works(raw, "before")
            await raw.send_frames(violation.frames)
            await assert_violation_answer(raw, violation)
            await bench.alive(every=30)

        bench.run(go())

    example()
    bench.finish(caplog)


def request(**members: Any) -> bytes:
    return json.dumps({"id": "a", "data": 1, **members}).encode()


def refused(cid: str | None) -> dict[str, Any]:
    return {"type": "error", "id": cid, "code": "bad_request"}


def echoed(output: Any, cid: str = "a") -> dict[str, Any]:
    return {"type": "result", "id": cid, "output": output}


def text(payload: bytes, **options: Any) -> bytes:
    return wire_frame(TEXT, payload, **options)


#: One frame (or message) of each class, and the Beam's answer: a reply (the socket
#: stays open; with the pongs that come first, if any), a close frame's payload (then
#: the stream ends), or DROPPED (the stream ends with no close frame). Comments say
#: where RFC 6455 asks otherwise.
FRAME_CLASSES: list[tuple[str, list[bytes], Any]] = [
    ("not-json", [text(b"nope")], refused(None)),
    ("not-an-object", [text(b"[1]")], refused(None)),
    ("id-not-a-string", [text(request(id=1))], refused(None)),
    ("data-missing", [text(b'{"id": "a"}')], refused("a")),
    ("priority-string", [text(request(priority="100"))], refused("a")),
    ("priority-fraction", [text(request(priority=1.5))], refused("a")),
    # A number with no fractional part is that integer (JSON Schema's "integer" too).
    ("priority-integral-float", [text(b'{"id": "a", "data": 1, "priority": 1e2}')], echoed(1)),
    ("priority-bool", [text(request(priority=True))], refused("a")),
    ("priority-huge", [text(request(priority=10**30))], refused("a")),
    ("priority-negative", [text(request(priority=-1))], refused("a")),
    ("priority-reserved-200", [text(request(priority=200))], refused("a")),
    ("priority-nan", [text(b'{"id": "a", "data": 1, "priority": NaN}')], refused("a")),
    # Python's int() refuses more than 4300 digits: the frame is "not JSON" to it.
    (
        "priority-4301-digits",
        [text(b'{"id": "a", "data": 1, "priority": ' + b"9" * 4301 + b"}")],
        refused(None),
    ),
    ("timeout-negative", [text(request(timeout=-1))], refused("a")),
    ("timeout-zero", [text(request(timeout=0))], refused("a")),
    ("timeout-nan", [text(b'{"id": "a", "data": 1, "timeout": NaN}')], refused("a")),
    ("timeout-huge", [text(b'{"id": "a", "data": 1, "timeout": 1e400}')], refused("a")),
    ("timeout-string", [text(request(timeout="5"))], refused("a")),
    # Not JSON (RFC 8259), yet taken: non-finite numbers come back as null.
    (
        "nan-infinity-literals",
        [text(b'{"id": "a", "data": [NaN, Infinity, -Infinity]}')],
        echoed([None, None, None]),
    ),
    (
        "100-deep",
        [text(b'{"id": "a", "data": ' + nested(99).encode() + b"}")],
        echoed(json.loads(nested(99))),
    ),
    (
        "100000-deep",
        [text(b'{"id": "a", "data": ' + nested(100_000).encode() + b"}")],
        refused(None),
    ),
    ("binary-json", [wire_frame(BINARY, request())], echoed(1)),
    ("binary-not-utf8", [wire_frame(BINARY, b"\xff\xff{}")], refused(None)),
    ("empty-text", [text(b"")], refused(None)),
    ("empty-binary", [wire_frame(BINARY, b"")], refused(None)),
    (
        "fragmented-inside-a-character",
        [
            text(b'{"id": "a", "da', fin=False),
            wire_frame(CONTINUATION, b'ta": "\xc3', fin=False),
            wire_frame(CONTINUATION, b'\xa9"}'),
        ],
        echoed("\u00e9"),
    ),
    (
        "ping-and-pong-between-fragments",
        [
            text(request()[:5], fin=False),
            wire_frame(PING, b"mid"),
            wire_frame(PONG, b"x"),
            wire_frame(CONTINUATION, request()[5:]),
        ],
        (echoed(1), (b"mid",)),
    ),
    ("ping", [wire_frame(PING, b"payload"), text(request())], (echoed(1), (b"payload",))),
    ("unsolicited-pong", [wire_frame(PONG, b"unasked"), text(request())], echoed(1)),
    # RFC 6455 section 5.1: a server MUST close on an unmasked client frame.
    ("unmasked", [text(request(), masked=False)], echoed(1)),
    ("close-1000", [wire_frame(CLOSE, close_payload(1000, b"bye"))], close_payload(1000)),
    ("close-4321", [wire_frame(CLOSE, close_payload(4321, b"odd"))], close_payload(4321)),
    # RFC 6455 section 7.4: 1005, 1006 and 1015 must not be sent, codes below 1000 are
    # unused and 5000 up undefined: the peer should fail the connection (1002).
    ("close-1005", [wire_frame(CLOSE, close_payload(1005))], close_payload(1005)),
    ("close-1006", [wire_frame(CLOSE, close_payload(1006))], close_payload(1006)),
    ("close-999", [wire_frame(CLOSE, close_payload(999))], close_payload(999)),
    ("close-5000", [wire_frame(CLOSE, close_payload(5000))], close_payload(5000)),
    ("close-empty", [wire_frame(CLOSE)], b""),
    # RFC 6455 section 5.5.1: a body starts with a 2-byte code; 1 byte is an error (1002).
    ("close-one-byte", [wire_frame(CLOSE, b"\x03")], b""),
    # RFC 6455 section 8.1: invalid UTF-8 fails the connection, with 1007 (section 7.4.1).
    ("close-invalid-utf8", [wire_frame(CLOSE, close_payload(1000, b"\xff"))], DROPPED),
    ("text-invalid-utf8", [text(b'{"id": "\xff", "data": 1}')], DROPPED),
    ("text-utf8-surrogate", [text(b'{"id": "\xed\xa0\x80"}')], DROPPED),
    # RFC 6455 sections 5.2 and 5.4: each of these fails the connection, with 1002.
    ("continuation-first", [wire_frame(CONTINUATION, b"x")], DROPPED),
    ("data-inside-fragments", [text(b"{", fin=False), text(b"}")], DROPPED),
    ("fragmented-ping", [wire_frame(PING, b"x", fin=False)], DROPPED),
    ("ping-over-125", [wire_frame(PING, b"x" * 126)], DROPPED),
    ("rsv1-without-deflate", [text(request(), rsv=4)], DROPPED),
    ("rsv3", [text(request(), rsv=1)], DROPPED),
    ("opcode-3", [wire_frame(3, b"x")], DROPPED),
    ("opcode-11", [wire_frame(0xB, b"")], DROPPED),
]
#: The classes about the frame limit, with ``max_message_size`` at ``LIMIT``.
LIMIT_CLASSES: list[tuple[str, list[bytes], Any]] = [
    ("exactly-the-limit", [text(b" " * LIMIT)], refused(None)),
    ("over-the-limit", [text(b" " * (LIMIT + 1))], TOO_BIG),
    ("over-the-limit-header-only", [text(b"", length=2**63)[:10]], TOO_BIG),
    (
        "over-the-limit-in-fragments",
        [text(b" " * LIMIT, fin=False), wire_frame(CONTINUATION, b" ")],
        TOO_BIG,
    ),
]


async def answers_as_listed(
    gateway: Gateway, token: str, classes: list[tuple[str, list[bytes], Any]]
) -> None:
    """Each class on a socket of its own; every class not answered as listed is named."""
    wrong: dict[str, str] = {}
    for name, frames, answer in classes:
        try:
            await answers_class(gateway, token, frames, answer)
        except Exception as error:
            wrong[name] = f"{type(error).__name__}: {error}"[:400]
    assert not wrong, wrong


async def answers_class(gateway: Gateway, token: str, frames: list[bytes], answer: Any) -> None:
    raw = await WireSocket.open(gateway, gateway.path("perturb", "echo"), auth(token))
    await raw.send_frames(frames)
    outcome = await raw.outcome()
    if isinstance(answer, dict | tuple):
        expected, pongs = answer if isinstance(answer, tuple) else (answer, ())
        assert outcome.kind == "text", outcome
        assert outcome.pongs == pongs, outcome
        assert_reply(outcome.json(), expected)
        await beam_works(raw)
    elif answer is DROPPED:
        assert outcome.kind == "dropped", outcome
    else:
        assert (outcome.kind, outcome.payload) == ("close", answer), outcome
        assert await raw.ended(), "the stream stayed open after the close frame"
    raw.abort()
    reply = await gateway.get("api", "health")
    assert reply.code == 200, reply
    await beam_works(await WireSocket.open(gateway, gateway.path("perturb", "echo"), auth(token)))


async def test_each_class_of_frame_gets_its_answer(gateway: Gateway, token: str) -> None:
    await answers_as_listed(gateway, token, FRAME_CLASSES)


@small_frames
async def test_each_class_of_frame_about_the_limit_gets_its_answer(
    gateway: Gateway, token: str
) -> None:
    await answers_as_listed(gateway, token, LIMIT_CLASSES)


@small_frames
async def test_the_beam_frame_limit_is_inclusive(gateway: Gateway, token: str) -> None:
    """``max_message_size`` bytes are taken, one more closes with 1009, whole or in
    fragments (the fragments' sum counts)."""
    raw = await WireSocket.open(gateway, gateway.path("perturb", "echo"), auth(token))
    head = b'{"id": "edge", "data": "'
    exact = head + b"x" * (LIMIT - len(head) - 2) + b'"}'
    assert len(exact) == LIMIT
    await raw.send_frames([wire_frame(TEXT, exact)])
    reply = await raw.reply()
    assert reply["id"] == "edge" and reply["output"] == "x" * (LIMIT - len(head) - 2)
    await raw.send_frames(
        [wire_frame(TEXT, exact[:100], fin=False), wire_frame(CONTINUATION, exact[100:])]
    )
    assert (await raw.reply())["id"] == "edge"

    await raw.send_frames(
        [wire_frame(TEXT, exact[:100], fin=False), wire_frame(CONTINUATION, exact[100:] + b" ")]
    )
    outcome = await raw.outcome()
    assert (outcome.kind, outcome.payload) == ("close", TOO_BIG)
    assert await raw.ended()


# -- the publish socket -----------------------------------------------------------------------


@dataclass
class PublishedKernel:
    """A hand-written kernel on the publish socket, with an observer and a Beam of its agent."""

    agent_id: str
    kernel: WireSocket
    observer: WebSocketClientConnection
    beam: WebSocketClientConnection
    calls: int = 0
    requests: int = 0

    async def perturbed(self) -> tuple[str, int]:
        """Send a request through the Beam; the kernel must get its ``invoke``."""
        self.requests += 1
        cid = f"r{self.requests}"
        self.beam.write_message(json.dumps({"id": cid, "data": self.requests}))
        invoke = await self.kernel.reply()
        self.calls += 1
        assert invoke == {"type": "invoke", "call": self.calls, "data": self.requests}, invoke
        return cid, self.calls


async def publish(bench: Bench, agent_id: str) -> PublishedKernel:
    gateway = bench.gateway
    kernel = await WireSocket.open(gateway, gateway.path("publish", agent_id), auth(bench.token))
    observer, hello = await gateway.observe_hello(agent_id)
    assert hello["agent_id"] == agent_id
    beam = await gateway.beam(agent_id)
    return PublishedKernel(agent_id, kernel, observer, beam)


#: Stands for the waiting call's number in a kernel frame's text (JSON never holds a NUL).
CALL = "\x00"


@dataclass(frozen=True)
class KernelFrame:
    """A frame a kernel sends (``CALL`` stands for the waiting call's number), and the
    event it makes the server relay, if any."""

    text: str
    relayed: dict[str, Any] | None = None

    def at(self, call: int) -> bytes:
        return self.text.replace(CALL, str(call)).encode()


def relayed_as(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """What ``FluxAgent.relay`` reflects for an ``event`` frame."""
    if event_type == "result":
        body = {"output": sanitise(data.get("output")), "perturbation_id": None}
    else:
        body = {
            "error": str(data.get("error", "")),
            "error_type": str(data.get("error_type", "Exception")),
            "perturbation_id": None,
        }
    return {"type": event_type, "data": body}


KERNEL_TYPES = {"return", "raise", "event"}
#: A call number that is not the waiting call's: the wrong type, or no call that waits.
#: ``true`` is 1 in Python, and call 1 is answered before the fuzzing begins (see the
#: xfail test below for what ``true`` does while call 1 waits).
WRONG_CALLS = [
    f'"{CALL}"',
    f"{CALL}.0",
    f"{CALL}e0",
    f"[{CALL}]",
    f'{{"call": {CALL}}}',
    f"-{CALL}",
    f"{CALL}000",
    "null",
    "0",
    "true",
    "false",
    "NaN",
    "1e400",
]


@st.composite
def kernel_garbage(draw: st.DrawFn) -> KernelFrame:
    """A frame that must not settle the waiting call: junk, wrong types, or an event."""
    kind = draw(
        st.sampled_from(
            ["json", "wrong-call", "bad-event", "event", "deep", "not-json", "non-finite"]
        )
    )
    if kind == "json":
        value = draw(
            any_json.filter(lambda v: not (isinstance(v, dict) and v.get("type") in KERNEL_TYPES))
        )
        return KernelFrame(json.dumps(value))
    if kind == "wrong-call":
        kernel_type = json.dumps(draw(st.sampled_from(["return", "raise"])))
        members = [f'"type": {kernel_type}']
        if draw(st.integers(0, 5)):
            members.append(f'"call": {draw(st.sampled_from(WRONG_CALLS))}')
        if draw(st.booleans()):
            members.append(f'"output": {json.dumps(draw(any_json))}')
        return KernelFrame("{" + ", ".join(members) + "}")
    if kind == "bad-event":
        event_type = draw(st.sampled_from(["state", "perturbation", "metabolism", "", None, 1]))
        data = draw(st.dictionaries(st.text(max_size=6), any_json, max_size=3))
        frame = {"type": "event", "event_type": event_type, "data": data}
        if draw(st.booleans()):
            frame["event_type"] = draw(st.sampled_from(["result", "error"]))
            frame["data"] = draw(any_json.filter(lambda v: not isinstance(v, dict)))
        return KernelFrame(json.dumps(frame))
    if kind == "event":
        event_type = draw(st.sampled_from(["result", "error"]))
        optional = {"output": any_json, "error": any_json, "error_type": any_json, "x": any_json}
        data = draw(st.fixed_dictionaries({}, optional=optional))
        frame = {"type": "event", "event_type": event_type, "data": data}
        return KernelFrame(json.dumps(frame), relayed_as(event_type, data))
    if kind == "deep":
        # The right call, with an output too deep to take: the frame is ignored.
        depth = draw(st.sampled_from([100, 1000, 100_000]))
        return KernelFrame(f'{{"type": "return", "call": {CALL}, "output": {nested(depth)}}}')
    if kind == "not-json":
        return KernelFrame(
            draw(utf8_text.filter(lambda text: CALL not in text and not _parses(text)))
        )
    name, value = draw(st.sampled_from(NON_FINITE))
    text = f'{{"type": "event", "event_type": "result", "data": {{"output": [{name}]}}}}'
    return KernelFrame(text, relayed_as("result", {"output": [value]}))


@st.composite
def kernel_answers(draw: st.DrawFn) -> tuple[KernelFrame, dict[str, Any]]:
    """The frame that settles the waiting call, and what the Beam then answers."""
    if draw(st.booleans()):
        frame: dict[str, Any] = {"type": "return", "call": 0}
        if draw(st.integers(0, 3)):
            frame["output"] = draw(any_json)
        expected = {"type": "result", "output": sanitise(frame.get("output"))}
    else:
        frame = {"type": "raise", "call": 0}
        optional = {"error_type": any_json, "message": any_json}
        frame.update(draw(st.fixed_dictionaries({}, optional=optional)))
        message = str(frame.get("message", ""))
        expected = {"type": "error", "code": "agent_error", "message": message}
    text = json.dumps(frame).replace('"call": 0', f'"call": {CALL}', 1)
    return KernelFrame(text), expected


async def sync_pongs(kernel: WireSocket, pings: list[bytes], marker: bytes) -> None:
    """Ping with ``marker``; every earlier ping must have been answered, in order, first."""
    await kernel.send_frames([wire_frame(PING, marker)])
    pongs: list[bytes] = []
    while True:
        frame = await kernel.read_frame()
        if frame.opcode == PING:
            continue
        assert frame.opcode == PONG, f"the kernel got {frame} while only pongs were due"
        pongs.append(frame.payload)
        if frame.payload == marker:
            break
    assert pongs == [*pings, marker]


async def events_of_next_perturbation(
    observer: WebSocketClientConnection,
) -> tuple[str, list[dict[str, Any]]]:
    """The events up to the outcome (result or error) of the next accepted perturbation,
    and its id (one perturbation at a time: the next ``perturbation`` event is its)."""
    events: list[dict[str, Any]] = []
    perturbation_id = None
    while True:
        frame = await receive(observer)
        assert frame is not None, "the observer of the published agent was closed"
        events.append(frame)
        data = frame.get("data", {})
        if frame["type"] == "perturbation" and perturbation_id is None:
            perturbation_id = data["perturbation_id"]
        elif frame["type"] in ("result", "error") and data.get("perturbation_id") is not None:
            assert data["perturbation_id"] == perturbation_id, (frame, perturbation_id)
            return perturbation_id, events


def test_the_publish_socket_ignores_bad_kernel_frames_and_keeps_serving(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    """While a call waits, the kernel sends junk, answers with the wrong call (a string,
    a float, a list, null, a call nobody waits for), events of the wrong type or
    shape, 100,000-deep frames, NaN literals; each in any framing (fragments,
    pings, binary, unmasked). None of it settles the call or closes the socket;
    well-formed events are relayed (non-finite numbers as null), in order; then
    the right ``return`` or ``raise`` settles the call and the Beam answers it."""
    published = bench.run(publish(bench, "fuzzed"))

    async def first_call() -> None:
        _, call = await published.perturbed()
        await published.kernel.send_json({"type": "return", "call": call, "output": "ready"})
        reply = await receive(published.beam)
        assert reply is not None and reply["output"] == "ready", reply
        await events_of_next_perturbation(published.observer)

    bench.run(first_call())

    @fuzz(75)
    @given(st.data())
    def example(data: st.DataObject) -> None:
        garbage = data.draw(st.lists(kernel_garbage(), max_size=5))
        answer, expected = data.draw(kernel_answers())
        plans = [data.draw(framings((TEXT, BINARY))) for _ in garbage]
        plans.append(data.draw(framings()))
        call = published.calls + 1
        encoded = [
            plan.encode(frame.at(call))
            for plan, frame in zip(plans, [*garbage, answer], strict=True)
        ]

        async def go() -> None:
            cid, waiting = await published.perturbed()
            assert waiting == call
            for each in encoded:
                await published.kernel.send_frames(each.frames)
            pings = [payload for each in encoded for payload in each.pings]
            await sync_pongs(published.kernel, pings, b"sync %d" % call)
            reply = await receive(published.beam)
            assert reply is not None, "the Beam of the published agent closed"
            assert reply["id"] == cid
            assert {key: reply.get(key) for key in expected} == expected, (reply, expected)
            perturbation_id, events = await events_of_next_perturbation(published.observer)
            assert reply.get("perturbation_id", perturbation_id) == perturbation_id
            relayed = [
                {"type": event["type"], "data": event["data"]}
                for event in events
                if event["type"] in ("result", "error") and event["data"]["perturbation_id"] is None
            ]
            assert relayed == [frame.relayed for frame in garbage if frame.relayed is not None]
            await bench.alive(every=15)

        bench.run(go())

    example()
    status = bench.run(bench.gateway.get("api", "agents", "fuzzed"))
    assert status.code == 200 and status.body["state"] == "flowing", status
    bench.finish(caplog)


async def assert_unpublished(bench: Bench, published: PublishedKernel) -> None:
    """The server let go of the agent: its observer closed with 4004, and it is gone."""
    while await receive(published.observer) is not None:
        pass
    assert published.observer.close_code == 4004
    reply = await bench.gateway.get("api", "agents", published.agent_id)
    assert reply.code == 404, reply


def test_the_publish_socket_answers_protocol_violations_and_unpublishes(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    """The same violations as on the Beam get the same answers from Tornado; then the
    published agent goes. The publish socket has no Terrarium frame limit: only
    Tornado's 10 MiB (``websocket_max_message_size``) closes it with 1009."""
    numbers = itertools.count()

    @fuzz(60)
    @given(
        violations(TORNADO_LIMIT).filter(lambda v: v.name not in ("too-big", "too-big-fragments"))
    )
    def example(violation: Violation) -> None:
        event(violation.name)

        async def go() -> None:
            published = await publish(bench, f"v{next(numbers)}")
            await published.kernel.send_frames(violation.frames)
            await assert_violation_answer(published.kernel, violation)
            await assert_unpublished(bench, published)
            await bench.alive(every=12)

        bench.run(go())

    example()
    bench.finish(caplog)


@small_frames
async def test_the_frame_limit_of_the_beam_does_not_bound_publish_frames(
    gateway: Gateway, token: str
) -> None:
    """``max_message_size`` is the Beam's (and REST's); a kernel may send larger frames,
    up to Tornado's 10 MiB, as a large return value needs."""
    kernel = await WireSocket.open(gateway, gateway.path("publish", "large"), auth(token))
    beam = await gateway.beam("large")
    beam.write_message(json.dumps({"id": "big", "data": 1}))
    invoke = await kernel.reply()
    output = "y" * (2 * LIMIT)
    await kernel.send_json({"type": "return", "call": invoke["call"], "output": output})
    reply = await receive(beam)
    assert reply is not None and reply["output"] == output

    await kernel.send_frames([wire_frame(TEXT, b"", length=TORNADO_LIMIT + 1)[:10]])
    outcome = await kernel.outcome()
    assert (outcome.kind, outcome.payload) == ("close", TOO_BIG)


async def test_a_boolean_call_number_does_not_settle_a_call(gateway: Gateway, token: str) -> None:
    """``{"type": "return", "call": true}`` names no call: ``true`` is not a number in
    JSON, and the Beam refuses booleans as priorities for the same reason. Only the
    ``call: 1`` that follows may settle call 1.

    A regression test: ``KernelAgent.answer`` (jupyter_extension/handlers/publish.py)
    took ``true`` for call 1, since ``isinstance(True, int)``."""
    kernel = await WireSocket.open(gateway, gateway.path("publish", "boolcall"), auth(token))
    beam = await gateway.beam("boolcall")
    beam.write_message(json.dumps({"id": "b", "data": 1}))
    invoke = await kernel.reply()
    assert invoke["call"] == 1

    await kernel.send_json({"type": "return", "call": True, "output": "from true"})
    await kernel.send_json({"type": "return", "call": 1, "output": "from 1"})

    reply = await receive(beam)
    assert reply is not None and reply["output"] == "from 1", reply


def test_close_payload_and_frames_helpers_agree_with_rfc_6455() -> None:
    """The hand-built frames the tests send are what RFC 6455 section 5.2 says."""
    assert wire_frame(TEXT, b"hi", masked=False) == b"\x81\x02hi"
    assert wire_frame(PING, b"", masked=False, fin=False, rsv=1) == b"\x19\x00"
    assert wire_frame(BINARY, b"", masked=False, length=70000)[:10] == b"\x82\x7f" + struct.pack(
        "!Q", 70000
    )
    masked = wire_frame(TEXT, b"abcd", mask=b"\x01\x02\x03\x04")
    assert masked == b"\x81\x84\x01\x02\x03\x04" + bytes([0x60, 0x60, 0x60, 0x60])
    assert close_payload(1000, b"ok") == b"\x03\xe8ok"
