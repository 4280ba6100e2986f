"""Agents that live in this kernel, watched without any server.

Where no Terrarium server extension is reachable (VS Code, Colab, marimo,
nbval), a widget streams through the kernel comm from an agent in the same
kernel. ``LocalTerrarium`` is where notebook code puts such agents: a small
``AgentRegistry`` (newline-framed mirrors, as the comm wants) that also tells
the widgets when agents come and go.

Where it is kept: ``kernel_registry()`` makes one on first use and stores it
on the IPython shell, so each kernel has exactly one, it lives exactly as long
as the kernel, and the module holds no state of its own. Code that runs
outside IPython (a script, a test) makes a ``LocalTerrarium()`` itself and
passes it to the widgets as ``local=``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from terrarium.flux import FluxAgent
from terrarium.protocol import Status
from terrarium.registry import AgentRegistry, MirrorSettings

#: The attribute of the IPython shell that holds its kernel's ``LocalTerrarium``.
SHELL_ATTRIBUTE = "_terrarium_local"

Watcher = Callable[[], None]


class LocalTerrarium:
    """Register, look up and remove this kernel's agents; notify watchers of changes."""

    def __init__(
        self,
        *,
        history_size: int = 100,
        observer_queue_size: int = 1024,
        metrics_interval: float = 1.0,
    ) -> None:
        self.registry = AgentRegistry(
            MirrorSettings(history_size=history_size, observer_queue_size=observer_queue_size),
            metrics_interval=metrics_interval,
        )
        self._watchers: list[Watcher] = []

    def __repr__(self) -> str:
        return f"<LocalTerrarium {', '.join(agent.id for agent in self) or '(empty)'}>"

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.registry

    def __iter__(self) -> Iterator[FluxAgent]:
        return iter(self.registry)

    def __len__(self) -> int:
        return len(self.registry)

    def get(self, agent_id: str) -> FluxAgent:
        """The agent, or ``UnknownAgent``."""
        return self.registry.get(agent_id)

    def add(self, agent: FluxAgent) -> FluxAgent:
        """Adopt a dormant agent; it starts at once when an event loop runs (a kernel)."""
        self.registry.register(agent)
        self._changed()
        return agent

    async def remove(self, agent_id: str) -> None:
        """Stop the agent and close its observers (widgets show it as gone)."""
        await self.registry.unregister(agent_id)
        self._changed()

    async def close(self) -> None:
        for agent_id in [agent.id for agent in self]:
            await self.remove(agent_id)

    def statuses(self) -> list[Status]:
        """The protocol's STATUS of every agent, as ``GET api/agents`` lists them."""
        return self.registry.statuses()

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher()`` after every add and remove; returns the function that stops it."""
        self._watchers.append(watcher)

        def unwatch() -> None:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

        return unwatch

    def _changed(self) -> None:
        for watcher in list(self._watchers):
            watcher()


def _shell(shell: Any) -> Any:
    if shell is not None:
        return shell
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    return get_ipython()


def kernel_registry(shell: Any = None) -> LocalTerrarium:
    """This kernel's ``LocalTerrarium``, made on first use and kept on the IPython shell."""
    holder = _shell(shell)
    if holder is None:
        raise RuntimeError(
            "kernel_registry() needs an IPython kernel; outside one, make a "
            "LocalTerrarium() and pass it to the widgets as local="
        )
    local = getattr(holder, SHELL_ATTRIBUTE, None)
    if not isinstance(local, LocalTerrarium):
        local = LocalTerrarium()
        setattr(holder, SHELL_ATTRIBUTE, local)
    return local


def current_registry() -> LocalTerrarium | None:
    """The kernel's ``LocalTerrarium`` when running in IPython (made on first use), else None.

    What widgets without an explicit ``local=`` use: made lazily, so a
    ``Terrarium()`` shown before any agent is added still sees them arrive.
    """
    return kernel_registry() if _shell(None) is not None else None
