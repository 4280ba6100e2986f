"""The Reflection: ``GET {base}terrarium/observe/{agent_id}?since=N`` (WebSocket).

Read-only. The handler attaches a ``WebSocketObserver`` to the agent's mirror
and otherwise only answers ``ping``; nothing an observer sends reaches the agent.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado.websocket import WebSocketHandler

from jupyter_extension.handlers.base import TerrariumMixin
from jupyter_extension.wire import (
    WebSocketObserver,
    release_response_headers,
    stream_of,
    tune_observer_socket,
)
from terrarium.errors import BadRequest
from terrarium.events import parse_json

_PONG = {"type": "pong"}


class _OnRequest:
    """An attribute Jupyter's token login sets on a handler, kept on its request instead.

    CPython shares one key table among a class's instances while the keys
    they set together stay within 30; an observe handler already sets 30, and
    a token login's two more would give every observe handler after the
    first token-authenticated one a table of its own (1.3 KiB per connection).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.kept = f"_terrarium{name}"

    def __get__(self, handler: Any, owner: type | None = None) -> Any:
        if handler is None:
            return self
        try:
            return getattr(handler.request, self.kept)
        except AttributeError:
            raise AttributeError(self.name) from None

    def __set__(self, handler: Any, value: Any) -> None:
        setattr(handler.request, self.kept, value)


class ObserveHandler(TerrariumMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """An observe socket, kept as light as an idle observer can be.

    The checks that may wait (access, locating the agent) run in ``prepare``
    and ``get`` hands over Tornado's own coroutine, so no frame of ours stays
    suspended for the life of the connection; pings come from the context's
    one ``Keepalive`` rather than from timers per connection. The handler
    sets no attribute of its own (see ``TerrariumMixin``): its observer is
    kept in the context, keyed weakly by the handler. Once open it lets go
    of the response headers it has sent.
    """

    _token_authenticated = _OnRequest()
    _new_cookie = _OnRequest()

    @property
    def ping_interval(self) -> float:
        """Zero turns off the per-connection pings of both Tornado and jupyter_server."""
        return 0

    @property
    def observer(self) -> WebSocketObserver | None:
        return self.context.observers.get(self)

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        await ensure_async(super().prepare(*args, **kwargs))  # raises 403; never redirects
        await self.check_read_access()
        self.refuse_unless_websocket()
        agent = await self.locate(self.path_args[0])
        # A bad ``since`` is a 400 before the upgrade; ``open`` reads it again to attach.
        self.since()
        # A remote agent is observed through this replica's follower of its stream.
        mirror = await agent.mirror()
        self.context.observers[self] = WebSocketObserver(self, mirror)

    @allow_unauthenticated
    def get(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, None]:
        return super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        release_response_headers(self)
        observer = self.observer
        assert observer is not None
        stream = stream_of(self)
        tune_observer_socket(stream)
        observer.connect(stream)
        observer.mirror.attach(observer, self.since(), self.get_query_argument("epoch", None))
        self.context.keepalive.add(self)

    def on_message(self, message: str | bytes) -> None:
        """Answer ``ping``; ignore anything else (the Reflection is read-only)."""
        try:
            frame = parse_json(message)
        except BadRequest:
            return
        observer = self.observer
        if isinstance(frame, dict) and frame.get("type") == "ping" and observer is not None:
            observer.send(observer.mirror.frame(_PONG))

    def on_finish(self) -> None:
        """A handshake refused after ``prepare`` (no upgrade, a foreign Origin) ends here:
        its observer goes at once, not when the collector gets to the handler."""
        if self.ws_connection is None:
            self.context.observers.pop(self, None)
        super().on_finish()

    def on_pong(self, data: bytes) -> None:
        self.context.keepalive.pong(self)

    def on_close(self) -> None:
        self.context.keepalive.discard(self)
        observer = self.context.observers.pop(self, None)
        if observer is not None:
            observer.mirror.detach(observer)
