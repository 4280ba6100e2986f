"""The kernel side of a widget's comm transport; ``js/src/comm.js`` is the other side.

Where the page has no Terrarium server extension (VS Code, Colab, marimo,
nbval), a widget talks to agents in its own kernel through anywidget custom
messages instead of the observe socket and the Beam. The frames are the
observe socket's own, so the JavaScript folds them with the same code.

Widget -> kernel::

    {"type": "subscribe", "since": N | null, "epoch": E | null}   # E: since's numbering
    {"type": "perturb", "id": CID, "data": any, "priority": int?, "timeout": float?,
     "agent_id": str?}                          # agent_id only for widgets of every agent
    {"type": "resolve", "id": CID, "agent_id": str, "token_id": str, "human_input": any}
    {"type": "cancel", "id": CID, "agent_id": str, "token_id": str}

Kernel -> widget::

    {"type": "frame", "frame": FRAME}           # hello, event or gap, as the observe socket
    {"type": "agents", "agents": [STATUS]}      # widgets of every agent: who exists now
    {"type": "reply", "id": CID, "reply": R}    # R: the Beam's result/semaphore/error, or
                                                # {"type": "resolved"|"cancelled", "token"}
    {"type": "error", "code": "unknown_agent", "message": str}

A ``gap`` frame carries ``agent_id`` here (the observe socket's does not need
it: one socket, one agent), so widgets of every agent know whose it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from terrarium.errors import AgentUnavailable, BadRequest, PerturbationError, UnknownAgent
from terrarium.flux import Ejected, FluxAgent
from terrarium.local import LocalTerrarium
from terrarium.mirror import CLOSE_AGENT_REMOVED, plain_frames
from terrarium.perturbation import DEFAULT_PRIORITY
from terrarium.purgatory.decisions import NotPending, UnknownToken

log = logging.getLogger(__name__)

Message = dict[str, Any]
Send = Callable[[Message], None]


class CommObserver:
    """A mirror observer that forwards each newline-framed frame as a ``frame`` message.

    A comm shows no backpressure to the kernel, so it is never backlogged:
    the frames go out as fast as the mirror flushes them.
    """

    __slots__ = ("agent_id", "link")

    def __init__(self, link: WidgetLink, agent_id: str) -> None:
        self.link = link
        self.agent_id = agent_id

    def send(self, data: bytes) -> None:
        for frame in plain_frames(data):
            if isinstance(frame, dict) and frame.get("type") == "gap":
                frame.setdefault("agent_id", self.agent_id)
            self.link.emit({"type": "frame", "frame": frame})

    def backlogged(self) -> bool:
        return False

    def close(self, code: int, reason: str) -> None:
        self.link.observer_closed(self, code, reason)


class WidgetLink:
    """Answers one widget's custom messages from agents living in this kernel.

    ``agent_id`` None serves every agent of the kernel's ``LocalTerrarium``
    (the grid, the all-agents Purgatory panel). ``agent`` is an agent object
    the widget was given directly; otherwise agents are looked up in
    ``local()`` at each message, so agents added after the widget was shown
    are found.
    """

    def __init__(
        self,
        send: Send,
        *,
        agent_id: str | None,
        agent: FluxAgent | None = None,
        local: Callable[[], LocalTerrarium | None] = lambda: None,
    ) -> None:
        self._send = send
        self.agent_id = agent_id
        self._agent = agent
        self._local = local
        self._observers: dict[str, tuple[FluxAgent, CommObserver]] = {}
        self._watched: LocalTerrarium | None = None
        self._unwatch: Callable[[], None] | None = None
        self._subscribed = False
        self.closed = False

    # -- plumbing -------------------------------------------------------------

    def emit(self, message: Message) -> None:
        if not self.closed:
            self._send(message)

    def handle(self, message: Any) -> None:
        """One custom message from the widget; unknown ones are ignored, like unknown frames."""
        if self.closed or not isinstance(message, dict):
            return
        handlers: dict[Any, Callable[[Message], None]] = {
            "subscribe": self._subscribe,
            "perturb": self._perturb,
            "resolve": self._decide,
            "cancel": self._decide,
        }
        handler = handlers.get(message.get("type"))
        if handler is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # Messages normally arrive on the kernel's running loop; if not, hop onto
            # the loop the agents run on, since mirrors and futures belong to it.
            loop = self._agents_loop()
            if loop is None or not loop.is_running():
                self._refuse(message, "agent_unavailable", "no event loop runs the agents here")
                return
            loop.call_soon_threadsafe(handler, message)
            return
        handler(message)

    def close(self) -> None:
        """Detach every observer and stop watching; the widget is gone."""
        for agent_id in list(self._observers):
            self._detach(agent_id)
        if self._unwatch is not None:
            self._unwatch()
        self._unwatch = self._watched = None
        self.closed = True

    def _agents_loop(self) -> asyncio.AbstractEventLoop | None:
        for agent in self._targets():
            if agent.mirror.loop is not None:
                return agent.mirror.loop
        return None

    def _find(self, agent_id: Any) -> FluxAgent | None:
        if not isinstance(agent_id, str):
            return None
        if self._agent is not None and self._agent.id == agent_id:
            return self._agent
        local = self._local()
        try:
            return local.get(agent_id) if local is not None else None
        except UnknownAgent:
            return None

    def _targets(self) -> list[FluxAgent]:
        if self.agent_id is None:
            local = self._local()
            return list(local) if local is not None else []
        agent = self._find(self.agent_id)
        return [] if agent is None else [agent]

    def _unknown(self, agent_id: Any) -> str:
        where = "in this kernel's LocalTerrarium" if self._local() is not None else "in this kernel"
        return f"no agent {agent_id!r} {where}: add it with kernel_registry().add(agent)"

    # -- observing -------------------------------------------------------------

    def _subscribe(self, message: Message) -> None:
        since = message.get("since")
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            since = None
        epoch = message.get("epoch")
        self._subscribed = True
        for agent_id in list(self._observers):
            self._detach(agent_id)
        self._watch()
        self._sync(since, epoch if isinstance(epoch, str) else None, report_missing=True)

    def _watch(self) -> None:
        local = self._local()
        if local is self._watched:
            return
        if self._unwatch is not None:
            self._unwatch()
        self._watched = local
        self._unwatch = local.watch(self._changed) if local is not None else None

    def _changed(self) -> None:
        if self._subscribed and not self.closed:
            self._sync(None, None, report_missing=False)

    def _sync(self, since: int | None, epoch: str | None, *, report_missing: bool) -> None:
        """Observe exactly the agents this widget shows (new ones from their first kept event)."""
        targets = {agent.id: agent for agent in self._targets()}
        for agent_id, (agent, _) in list(self._observers.items()):
            if targets.get(agent_id) is not agent:
                self._detach(agent_id)
        if self.agent_id is None:
            local = self._local()
            self.emit({"type": "agents", "agents": local.statuses() if local is not None else []})
        elif not targets and report_missing:
            missing = self._unknown(self.agent_id)
            self.emit({"type": "error", "code": "unknown_agent", "message": missing})
        for agent_id, agent in targets.items():
            if agent_id not in self._observers:
                observer = CommObserver(self, agent_id)
                self._observers[agent_id] = (agent, observer)
                if self.agent_id is not None:
                    agent.mirror.attach(observer, since, epoch)
                else:
                    agent.mirror.attach(observer)

    def _detach(self, agent_id: str) -> None:
        entry = self._observers.pop(agent_id, None)
        if entry is not None:
            agent, observer = entry
            agent.mirror.detach(observer)

    def observer_closed(self, observer: CommObserver, code: int, reason: str) -> None:
        entry = self._observers.get(observer.agent_id)
        if entry is None or entry[1] is not observer:
            return
        del self._observers[observer.agent_id]
        if self.agent_id is not None:
            code_name = "unknown_agent" if code == CLOSE_AGENT_REMOVED else "closed"
            self.emit(
                {"type": "error", "code": code_name, "message": f"{observer.agent_id}: {reason}"}
            )

    # -- acting ----------------------------------------------------------------------

    def _reply(self, cid: Any, reply: Message) -> None:
        self.emit({"type": "reply", "id": cid, "reply": reply})

    def _refuse(self, message: Message, code: str, text: str) -> None:
        cid = message.get("id")
        reply: Message = {"type": "error", "id": cid, "code": code, "message": text}
        if message.get("type") in ("resolve", "cancel"):
            reply["error"] = code
        self._reply(cid, reply)

    def _perturb(self, message: Message) -> None:
        cid = message.get("id")
        agent_id = self.agent_id if self.agent_id is not None else message.get("agent_id")
        agent = self._find(agent_id)
        if agent is None:
            self._refuse(message, "unknown_agent", self._unknown(agent_id))
            return
        try:
            if "data" not in message:
                raise BadRequest("missing data")
            priority = message.get("priority")
            perturbation = agent.submit(
                message["data"],
                priority=DEFAULT_PRIORITY if priority is None else priority,
                timeout=message.get("timeout"),
                by="widget",
            )
        except PerturbationError as error:
            self._refuse(message, error.code, str(error))
            return
        assert perturbation.future is not None
        perturbation.future.add_done_callback(
            lambda future: self._answer(cid, perturbation.id, future)
        )

    def _answer(self, cid: Any, perturbation_id: str, future: asyncio.Future[Any]) -> None:
        """The Beam's replies: ``result``, ``error``, or ``semaphore`` and later the result."""
        error = AgentUnavailable("cancelled") if future.cancelled() else future.exception()
        if error is None and isinstance(future.result(), Ejected):
            ejected: Ejected = future.result()
            self._reply(
                cid,
                {
                    "type": "semaphore",
                    "id": cid,
                    "perturbation_id": perturbation_id,
                    "token": ejected.token.as_protocol(),
                },
            )
            ejected.resolution.add_done_callback(
                lambda resolution: self._answer(cid, perturbation_id, resolution)
            )
        elif error is None:
            output = future.result()
            reply = {"type": "result", "id": cid, "perturbation_id": perturbation_id}
            self._reply(cid, {**reply, "output": output})
        else:
            code = error.code if isinstance(error, PerturbationError) else "agent_error"
            self._reply(cid, {"type": "error", "id": cid, "code": code, "message": str(error)})

    def _decide(self, message: Message) -> None:
        """Resolve or cancel a pending semaphore token, as the Purgatory REST routes do."""
        agent_id = message.get("agent_id")
        if not isinstance(agent_id, str):
            agent_id = self.agent_id
        agent = self._find(agent_id)
        if agent is None:
            self._refuse(message, "unknown_agent", self._unknown(agent_id))
            return
        token_id = message.get("token_id")
        if not isinstance(token_id, str):
            self._refuse(message, "bad_request", "token_id must be a string")
            return
        try:
            if message["type"] == "resolve":
                if "human_input" not in message:
                    raise BadRequest("missing human_input")
                token = agent.purgatory.resolve(token_id, message["human_input"], by="widget")
                reply: Message = {"type": "resolved", "token": token.as_protocol()}
            else:
                token = agent.purgatory.cancel(token_id)
                reply = {"type": "cancelled", "token": token.as_protocol()}
        except UnknownToken as error:
            self._refuse(message, "unknown_token", str(error))
            return
        except NotPending as error:
            cid = message.get("id")
            refusal = {"type": "error", "id": cid, "code": "not_pending", "error": "not_pending"}
            refusal.update(message=str(error), token=error.token.as_protocol())
            self._reply(cid, refusal)
            return
        except PerturbationError as error:
            self._refuse(message, error.code, str(error))
            return
        self._reply(message.get("id"), {**reply, "id": message.get("id")})
