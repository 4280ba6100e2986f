"""The widgets' Python side: strict constructors, no token in state, the kernel-comm fallback.

The comm tests drive a widget exactly as its JavaScript does: they hand the
widget's own message handler the custom messages ``js/src/comm.js`` sends,
with real flux agents behind it, and read what the widget sends back.
"""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import traitlets

from terrarium.flux import FluxAgent, FluxConfig
from terrarium.local import LocalTerrarium, kernel_registry
from terrarium.purgatory.tokens import eject
from terrarium.widgets import (
    AgentView,
    BundleMissing,
    PerturbConsole,
    Pipeline,
    PurgatoryPanel,
    Terrarium,
    TerrariumWidget,
)
from terrarium.widgets.views import STATIC, accepts

Message = dict[str, Any]
SYNCED = {"agent_id", "transport"}


async def echo(data: Any) -> Any:
    return data


async def boom(data: Any) -> Any:
    raise ValueError(f"boom: {data!r}")


class Approver:
    """Asks a human about anything but small numbers; resumes with the answer."""

    def invoke(self, data: Any) -> Any:
        if isinstance(data, int) and data < 10:
            return {"approved": data}
        return eject(f"approve {data!r}?", options=["yes", "no"], state={"data": data})

    def resume(self, state: Any, human_input: Any) -> Any:
        return {"data": state["data"], "answer": human_input}


class Wire:
    """What a widget sent its JavaScript, read as the JavaScript would."""

    def __init__(self, widget: TerrariumWidget, monkeypatch: pytest.MonkeyPatch) -> None:
        self.widget = widget
        self.sent: list[Message] = []
        monkeypatch.setattr(widget, "send", lambda content, buffers=None: self.sent.append(content))

    def receive(self, message: Message) -> None:
        """A custom message from the JavaScript, through the widget's own handler."""
        self.widget._handle_custom_msg(message, [])

    def frames(self, agent_id: str | None = None) -> list[Message]:
        found = [m["frame"] for m in self.sent if m["type"] == "frame"]
        return [f for f in found if agent_id is None or f.get("agent_id") == agent_id]

    def events(self, agent_id: str | None = None) -> list[Message]:
        return [f for f in self.frames(agent_id) if f["type"] not in ("hello", "gap")]

    def replies(self, cid: str) -> list[Message]:
        return [m["reply"] for m in self.sent if m["type"] == "reply" and m.get("id") == cid]

    def of_type(self, kind: str) -> list[Message]:
        return [m for m in self.sent if m["type"] == kind]

    async def until(self, predicate: Callable[[], Any]) -> Any:
        """Let the loop run until ``predicate()`` holds (bounded by turns, not by time)."""
        for _ in range(200):
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0)
        raise AssertionError(f"never happened; sent: {self.sent}")


@pytest.fixture
def local(jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[LocalTerrarium]:
    registry = LocalTerrarium(history_size=3)
    yield registry
    jp_asyncio_loop.run_until_complete(registry.close())


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[TerrariumWidget], Wire]]:
    made: list[TerrariumWidget] = []

    def make(widget: TerrariumWidget) -> Wire:
        made.append(widget)
        return Wire(widget, monkeypatch)

    yield make
    for widget in made:
        widget.close()


# -- strict constructors -------------------------------------------------------------


def test_unknown_keywords_are_rejected_with_what_is_accepted() -> None:
    with pytest.raises(TypeError, match=r"colour.*accepts: agent_id, transport, local"):
        AgentView("echo", colour="red")
    with pytest.raises(TypeError, match=r"token.*accepts: transport, local"):
        Terrarium(token="secret")
    with pytest.raises(TypeError, match="layout"):
        PurgatoryPanel(layout={"width": "100%"})


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "x" * 129, "é"])
def test_an_agent_id_must_be_a_valid_id(bad: str) -> None:
    with pytest.raises(ValueError, match="not an agent id"):
        AgentView(bad)
    with pytest.raises(ValueError, match="not an agent id"):
        PerturbConsole(bad)


def test_wrong_types_are_rejected() -> None:
    with pytest.raises(TypeError, match="agent_id must be an agent id"):
        AgentView(42)
    with pytest.raises(TypeError, match="not NoneType"):
        PerturbConsole(None)
    with pytest.raises(ValueError, match="transport must be one of auto, server, comm"):
        AgentView("echo", transport="wifi")
    with pytest.raises(TypeError, match="local must be a LocalTerrarium"):
        AgentView("echo", local={"echo": echo})


def test_widget_state_is_the_agent_and_the_transport_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JUPYTER_TOKEN", "very-secret-token")
    monkeypatch.setenv("TERRARIUM_TOKEN", "very-secret-token")
    widgets = [AgentView("echo"), Terrarium(), PerturbConsole("echo"), PurgatoryPanel()]
    try:
        for widget in widgets:
            state = widget.get_state()
            own = {name for name in state if not name.startswith("_")}
            assert own - {"layout", "tabbable", "tooltip"} == SYNCED, own
            assert not any("token" in name for name in state)
            assert "very-secret-token" not in repr(state)
        assert widgets[0].agent_id == "echo" and widgets[0].transport == "auto"
        assert widgets[1].agent_id is None and widgets[3].agent_id is None
    finally:
        for widget in widgets:
            widget.close()


def test_positional_and_missing_arguments_name_what_is_accepted() -> None:
    with pytest.raises(TypeError, match=r"got 1 positional.*accepts: transport, local"):
        Terrarium("echo")
    with pytest.raises(TypeError, match=r"missing required argument\(s\) agent_id"):
        AgentView()
    with pytest.raises(TypeError, match=r"takes agent_id alone"):
        PerturbConsole("echo", "auto")
    with pytest.raises(TypeError, match="agent_id both"):
        AgentView("echo", agent_id="other")
    with pytest.raises(TypeError, match="declares no _esm"):
        TerrariumWidget()


def test_one_constructor_read_from_each_widgets_options() -> None:
    for widget in (AgentView, Terrarium, PerturbConsole, PurgatoryPanel):
        assert "__init__" not in vars(widget), f"{widget.__name__} has its own constructor"
    assert str(inspect.signature(AgentView)).startswith("(agent_id: 'str | FluxAgent', *, ")
    assert list(inspect.signature(Terrarium).parameters) == ["transport", "local"]
    assert inspect.signature(PurgatoryPanel).parameters["agent_id"].default is None
    keyword = PurgatoryPanel(agent_id="echo")
    assert keyword.agent_id == "echo"
    keyword.close()
    with pytest.raises(TypeError, match="no widget option colour"):

        class Misdeclared(AgentView):
            options = accepts(colour="red")


def test_each_widget_carries_its_bundle_and_the_shared_styles() -> None:
    cases: list[tuple[type[TerrariumWidget], dict[str, Any], str]] = [
        (AgentView, {"agent_id": "a", "transport": "comm"}, "agent_view.js"),
        (Terrarium, {"transport": "server"}, "terrarium_grid.js"),
        (PerturbConsole, {"agent_id": "a"}, "perturb_console.js"),
        (PurgatoryPanel, {"agent_id": "a"}, "purgatory_panel.js"),
    ]
    for cls, kwargs, name in cases:
        # Declared as paths, which anywidget watches: hot reload under ANYWIDGET_HMR=1.
        assert cls._bundles == {"_esm": STATIC / name, "_css": STATIC / "terrarium.css"}
        assert hasattr(cls._esm, "changed") and hasattr(cls._css, "changed")
        widget = cls(**kwargs)
        state = widget.get_state()
        assert state["_esm"] == (STATIC / name).read_text(encoding="utf-8")
        assert state["_css"] == (STATIC / "terrarium.css").read_text(encoding="utf-8")
        widget.close()


def test_a_rebuilt_bundle_reaches_the_widgets_that_show_it(tmp_path: Path) -> None:
    source = tmp_path / "dev.js"
    source.write_text("export default { render() {} };", encoding="utf-8")

    class Dev(AgentView):
        _esm = source

    view = Dev("echo")
    try:
        assert view._esm == "export default { render() {} };"
        # What anywidget's file watcher does when the bundle changes on disk.
        Dev._esm.changed.emit("export default { render() { /* v2 */ } };")
        assert view._esm == "export default { render() { /* v2 */ } };"
    finally:
        view.close()


def test_a_missing_bundle_says_how_to_build_it(tmp_path: Path) -> None:
    class Unbuilt(AgentView):  # an unbuilt bundle does not fail at import
        _esm = tmp_path / "never_built.js"

    with pytest.raises(BundleMissing) as missing:
        Unbuilt("echo")
    message = str(missing.value)
    assert str(tmp_path / "never_built.js") in message
    assert "uv sync" in message and "npm run build" in message and "js/" in message

    class Unstyled(PurgatoryPanel):
        _css = tmp_path / "none.css"

    with pytest.raises(BundleMissing, match=r"none\.css"):
        Unstyled()

    # Built after the class was made: the next widget has it.
    (tmp_path / "never_built.js").write_text("export default {};", encoding="utf-8")
    view = Unbuilt("echo")
    assert view.get_state()["_esm"] == "export default {};"
    view.close()


# -- the Pipeline widget ---------------------------------------------------------------


def test_a_pipeline_widget_is_named_by_its_pipeline_and_strict() -> None:
    assert "__init__" not in vars(Pipeline), "Pipeline has its own constructor"
    assert str(inspect.signature(Pipeline)) == "(pipeline_id: 'str') -> 'None'"
    for widget in (Pipeline("requests"), Pipeline(pipeline_id="requests")):
        assert widget.pipeline_id == "requests" and widget.selected is None
        widget.close()
    with pytest.raises(TypeError, match=r"missing required argument\(s\) pipeline_id"):
        Pipeline()
    with pytest.raises(TypeError, match=r"transport.*accepts: pipeline_id"):
        Pipeline("requests", transport="comm")
    with pytest.raises(TypeError, match=r"agent_id.*accepts: pipeline_id"):
        Pipeline(agent_id="parse")
    with pytest.raises(TypeError, match="takes pipeline_id alone"):
        Pipeline("requests", "parse")
    with pytest.raises(TypeError, match="pipeline_id both"):
        Pipeline("requests", pipeline_id="other")
    with pytest.raises(TypeError, match="pipeline_id must be a pipeline id"):
        Pipeline(7)
    with pytest.raises(ValueError, match="not a pipeline id"):
        Pipeline("a/b")
    with pytest.raises(TypeError, match="more than one of agent_id, pipeline_id"):

        class Both(Pipeline):
            options = accepts(agent_id=None, pipeline_id=None)


def test_a_pipeline_widgets_state_is_its_pipeline_and_stage_and_no_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JUPYTER_TOKEN", "very-secret-token")
    widget = Pipeline("requests")
    try:
        state = widget.get_state()
        own = {name for name in state if not name.startswith("_")}
        assert own - {"layout", "tabbable", "tooltip"} == SYNCED | {"pipeline_id", "selected"}
        assert state["pipeline_id"] == "requests" and state["selected"] is None
        assert not any("token" in name for name in state)
        assert "very-secret-token" not in repr(state)
        # Its bundle draws it; the shared styles serve the Beam under the graph.
        assert Pipeline._bundles == {
            "_esm": STATIC / "pipeline.js",
            "_css": STATIC / "terrarium.css",
        }
        assert state["_esm"] == (STATIC / "pipeline.js").read_text(encoding="utf-8")
        # What the JavaScript sets when a stage is clicked, and what Python may set.
        widget.selected = "parse"
        assert widget.get_state()["selected"] == "parse"
        with pytest.raises(traitlets.TraitError, match="not a stage id"):
            widget.selected = "not a stage"
        widget.selected = None
        widget.pipeline_id = "backlog"  # the view redraws for the new pipeline
        with pytest.raises(ValueError, match="not a pipeline id"):
            widget.pipeline_id = ""
        assert widget.pipeline_id == "backlog"
    finally:
        widget.close()


def test_a_clicked_stage_can_aim_a_perturb_console() -> None:
    """The documented way: the console follows the stage picked in the graph."""
    graph = Pipeline("requests")
    console = PerturbConsole("commands")
    link = traitlets.dlink((graph, "selected"), (console, "agent_id"))
    try:
        graph.selected = "route"  # as the widget's JavaScript does on a click
        assert console.agent_id == "route"
    finally:
        link.unlink()
        graph.close()
        console.close()


def test_the_kernel_registry_lives_on_the_shell() -> None:
    shell = types.SimpleNamespace()
    first = kernel_registry(shell)
    assert kernel_registry(shell) is first
    assert kernel_registry(types.SimpleNamespace()) is not first
    with pytest.raises(RuntimeError, match="LocalTerrarium"):
        kernel_registry()  # no IPython here


# -- the comm fallback ---------------------------------------------------------------


async def test_subscribe_sends_hello_then_history_then_live_events(
    local: LocalTerrarium, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    agent = local.add(FluxAgent(echo, agent_id="echo"))
    await agent.perturb("before")
    view = wire(AgentView("echo", local=local))
    view.receive({"type": "subscribe", "since": None})
    hello = view.frames()[0]
    assert hello["type"] == "hello" and hello["agent_id"] == "echo" and hello["protocol"] == 1
    assert hello["snapshot"]["id"] == "echo" and hello["snapshot"]["pending"] == []
    assert [e["data"]["output"] for e in view.events() if e["type"] == "result"] == ["before"]
    await agent.perturb("live")
    await view.until(lambda: len([e for e in view.events() if e["type"] == "result"]) == 2)
    seqs = [e["seq"] for e in view.events()]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "contiguous, as on the socket"
    assert seqs[-1] == agent.mirror.last_seq


async def test_since_resumes_and_a_lost_range_is_a_gap_naming_its_agent(
    local: LocalTerrarium, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    agent = local.add(FluxAgent(echo, agent_id="echo"))
    for n in range(4):
        await agent.perturb(n)  # 1 state + 4 x (perturbation, result): seq 9
    view = wire(AgentView("echo", local=local))
    view.receive({"type": "subscribe", "since": 2})
    hello, gap, *events = view.frames()
    assert hello["seq"] == 9
    assert gap == {"type": "gap", "from": 3, "to": 6, "agent_id": "echo"}
    assert [e["seq"] for e in events] == [7, 8, 9]


async def test_perturb_is_answered_with_the_beams_reply(
    local: LocalTerrarium, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    local.add(FluxAgent(echo, agent_id="echo"))
    local.add(FluxAgent(boom, agent_id="boom"))
    console = wire(PerturbConsole("echo", local=local))
    console.receive({"type": "perturb", "id": "c1", "data": {"hi": 1}, "priority": 150})
    (reply,) = await console.until(lambda: console.replies("c1"))
    assert reply["type"] == "result" and reply["id"] == "c1"
    assert reply["output"] == {"hi": 1} and isinstance(reply["perturbation_id"], str)

    console.receive({"type": "perturb", "id": "c2", "data": 1, "priority": 500})
    (refused,) = console.replies("c2")
    assert (refused["type"], refused["code"]) == ("error", "bad_request")
    console.receive({"type": "perturb", "id": "c3"})
    assert console.replies("c3")[0]["code"] == "bad_request"

    failing = wire(PerturbConsole("boom", local=local))
    failing.receive({"type": "perturb", "id": "c4", "data": "x"})
    (failed,) = await failing.until(lambda: failing.replies("c4"))
    assert failed["code"] == "agent_error" and "boom: 'x'" in failed["message"]


async def test_a_widget_given_the_agent_object_needs_no_registry(
    jp_asyncio_loop: asyncio.AbstractEventLoop, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    agent = FluxAgent(echo, agent_id="solo", config=FluxConfig())
    agent.start()
    try:
        view = wire(AgentView(agent))
        assert view.widget.agent_id == "solo"
        view.receive({"type": "subscribe", "since": None})
        view.receive({"type": "perturb", "id": "p", "data": "direct"})
        (reply,) = await view.until(lambda: view.replies("p"))
        assert reply["output"] == "direct"
        await view.until(lambda: [e for e in view.events() if e["type"] == "result"])
        assert view.frames()[0]["type"] == "hello"
        view.widget.close()
        assert agent.mirror.observer_count == 0, "closing the widget detaches its observer"
    finally:
        await agent.kill()


async def test_an_agent_not_in_this_kernel_is_reported_unknown(
    local: LocalTerrarium, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    view = wire(AgentView("ghost", local=local))
    view.receive({"type": "subscribe", "since": None})
    (error,) = view.of_type("error")
    assert error["code"] == "unknown_agent" and "ghost" in error["message"]
    view.receive({"type": "perturb", "id": "p", "data": 1})
    assert view.replies("p")[0]["code"] == "unknown_agent"


async def test_semaphores_are_resolved_and_cancelled_through_the_comm(
    local: LocalTerrarium, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    local.add(FluxAgent(Approver(), agent_id="approver"))
    console = wire(PerturbConsole("approver", local=local))
    panel = wire(PurgatoryPanel(local=local))
    panel.receive({"type": "subscribe", "since": None})
    console.receive({"type": "perturb", "id": "big", "data": 47})
    (semaphore,) = await console.until(lambda: console.replies("big"))
    assert semaphore["type"] == "semaphore"
    token = semaphore["token"]
    assert token["prompt"] == "approve 47?" and token["status"] == "pending"
    await panel.until(
        lambda: [e for e in panel.events("approver") if e["type"] == "semaphore_ejected"]
    )

    panel.receive(
        {
            "type": "resolve",
            "id": "r1",
            "agent_id": "approver",
            "token_id": token["id"],
            "human_input": "yes",
        }
    )
    (resolved,) = panel.replies("r1")
    assert resolved["type"] == "resolved" and resolved["token"]["status"] == "resuming"
    _, result = await console.until(lambda: console.replies("big")[1:] and console.replies("big"))
    assert result["type"] == "result" and result["output"] == {"data": 47, "answer": "yes"}

    panel.receive({"type": "resolve", "id": "r2", "agent_id": "approver", "token_id": token["id"]})
    assert panel.replies("r2")[0]["code"] == "bad_request", "human_input is required"
    panel.receive(
        {
            "type": "resolve",
            "id": "r3",
            "agent_id": "approver",
            "token_id": token["id"],
            "human_input": 1,
        }
    )
    (again,) = panel.replies("r3")
    assert again["code"] == again["error"] == "not_pending"
    assert again["token"]["status"] == "resolved"

    console.receive({"type": "perturb", "id": "other", "data": 99})
    (second,) = await console.until(lambda: console.replies("other"))
    token_id = second["token"]["id"]
    panel.receive({"type": "cancel", "id": "x1", "agent_id": "approver", "token_id": token_id})
    (cancelled,) = panel.replies("x1")
    assert cancelled["type"] == "cancelled" and cancelled["token"]["status"] == "cancelled"
    _, refused = await console.until(
        lambda: console.replies("other")[1:] and console.replies("other")
    )
    assert refused["type"] == "error" and refused["code"] == "agent_error"
    panel.receive({"type": "cancel", "id": "x2", "agent_id": "approver", "token_id": "nope"})
    assert panel.replies("x2")[0]["code"] == "unknown_token"


async def test_the_grid_follows_agents_as_they_come_and_go(
    local: LocalTerrarium, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    local.add(FluxAgent(echo, agent_id="a"))
    grid = wire(Terrarium(local=local))
    grid.receive({"type": "subscribe", "since": None})
    (listing,) = grid.of_type("agents")
    assert [status["id"] for status in listing["agents"]] == ["a"]
    assert grid.frames("a")[0]["type"] == "hello"

    b = local.add(FluxAgent(echo, agent_id="b"))
    assert [s["id"] for s in grid.of_type("agents")[-1]["agents"]] == ["a", "b"]
    await b.perturb("from b")
    await grid.until(lambda: [e for e in grid.events("b") if e["type"] == "result"])

    await local.remove("a")
    assert [s["id"] for s in grid.of_type("agents")[-1]["agents"]] == ["b"]
    assert local.get("b").mirror.observer_count == 1
    grid.widget.close()
    assert local.get("b").mirror.observer_count == 0


async def test_a_removed_agent_is_reported_to_its_view(
    local: LocalTerrarium, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    local.add(FluxAgent(echo, agent_id="echo"))
    view = wire(AgentView("echo", local=local))
    view.receive({"type": "subscribe", "since": None})
    await local.remove("echo")
    (error,) = view.of_type("error")
    assert error["code"] == "unknown_agent"
    again = local.add(FluxAgent(echo, agent_id="echo"))
    hellos = [f for f in view.frames() if f["type"] == "hello"]
    assert len(hellos) == 2, "an agent added again under the id is observed again"
    assert again.mirror.observer_count == 1


async def test_messages_from_another_thread_are_served_on_the_agents_loop(
    local: LocalTerrarium, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    local.add(FluxAgent(echo, agent_id="echo"))
    view = wire(AgentView("echo", local=local))
    message = {"type": "perturb", "id": "t", "data": "threaded"}
    await asyncio.to_thread(view.receive, message)
    (reply,) = await view.until(lambda: view.replies("t"))
    assert reply["output"] == "threaded"


async def test_unknown_and_malformed_messages_are_ignored(
    local: LocalTerrarium, wire: Callable[[TerrariumWidget], Wire]
) -> None:
    local.add(FluxAgent(echo, agent_id="echo"))
    view = wire(AgentView("echo", local=local))
    for message in ({"type": "dance"}, {"no": "type"}, ["not", "a", "dict"], "text"):
        view.widget._handle_custom_msg(message, [])
    assert view.sent == []
