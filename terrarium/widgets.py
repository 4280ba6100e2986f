"""Terrarium's notebook widgets (anywidget): the Python side.

The JavaScript (``js/src``, bundled into ``terrarium/static``) does the
drawing and, where the page carries the Terrarium server extension, talks to
the server itself: same-origin observe sockets and REST with the page's own
login. Widget state is only ``agent_id`` and ``transport``: no token, ever.

Where no server extension is reachable (VS Code, Colab, marimo, nbval), the
JavaScript falls back to the kernel comm, and the Python side answers from
agents living in this kernel (``terrarium.comm``): an agent object given to
the widget, or one registered in the kernel's ``LocalTerrarium``.

Constructors are strict, in the lonboard spirit: an unknown keyword or a
wrong type fails at once with an error naming what is accepted, instead of
a widget that silently shows nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Final

import anywidget
import traitlets

from terrarium.comm import WidgetLink
from terrarium.flux import FluxAgent
from terrarium.local import LocalTerrarium, current_registry
from terrarium.names import NAME_RULE, is_name

#: Where ``npm run build`` (in js/) puts the bundles.
STATIC: Final = Path(__file__).parent / "static"
#: The styles every widget shares.
CSS_NAME: Final = "terrarium.css"
TRANSPORTS: Final = ("auto", "server", "comm")


class BundleMissing(FileNotFoundError):
    """A widget's JavaScript bundle has not been built."""


def bundle(name: str, static: Path = STATIC) -> tuple[Path, Path | None]:
    """The ESM bundle ``{name}.js`` and the shared stylesheet (None if absent).

    Raises ``BundleMissing`` with the command that builds it: a widget
    without its JavaScript would only show an empty cell.
    """
    esm = static / f"{name}.js"
    if not esm.is_file():
        raise BundleMissing(
            f"the Terrarium widget bundle {esm} is missing. Build it: `uv sync` in the "
            "repository builds it on install (needs Node.js and npm), or run "
            "`npm ci && npm run build` in js/."
        )
    css = static / CSS_NAME
    return esm, css if css.is_file() else None


def _reject_unknown(widget: str, unknown: dict[str, Any], accepted: Sequence[str]) -> None:
    if unknown:
        names = ", ".join(sorted(unknown))
        raise TypeError(
            f"{widget}() got unexpected keyword argument(s) {names}; "
            f"it accepts: {', '.join(accepted)}"
        )


def _check_agent(
    widget: str, value: object, *, optional: bool
) -> tuple[str | None, FluxAgent | None]:
    """An agent id (or None where allowed), or a FluxAgent whose id is taken."""
    if isinstance(value, FluxAgent):
        return value.id, value
    if value is None and optional:
        return None, None
    if not isinstance(value, str):
        allowed = "an agent id (str), a FluxAgent" + (" or None" if optional else "")
        raise TypeError(f"{widget}() agent_id must be {allowed}, not {type(value).__name__}")
    if not is_name(value):
        raise ValueError(f"{widget}() agent_id {value!r} is not an agent id: {NAME_RULE}")
    return value, None


class TerrariumWidget(anywidget.AnyWidget):
    """What the four widgets share: bundle loading, the strict checks and the comm link."""

    #: The bundle in terrarium/static, without ``.js``.
    bundle_name: ClassVar[str]

    agent_id = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    transport = traitlets.Enum(TRANSPORTS, "auto").tag(sync=True)
    #: This widget's own key, so every view of it in the page shares one connection
    #: (anywidget hands each view a different proxy of the same model).
    _instance = traitlets.Unicode(read_only=True).tag(sync=True)

    @traitlets.default("_instance")
    def _new_instance(self) -> str:
        return uuid.uuid4().hex

    def __init__(
        self,
        agent: object,
        *,
        optional: bool,
        transport: object,
        local: object,
        unknown: dict[str, Any],
        accepted: Sequence[str],
    ) -> None:
        name = type(self).__name__
        _reject_unknown(name, unknown, accepted)
        agent_id, agent_object = _check_agent(name, agent, optional=optional)
        if transport not in TRANSPORTS:
            raise ValueError(f"{name}() transport must be one of {', '.join(TRANSPORTS)}")
        if local is not None and not isinstance(local, LocalTerrarium):
            raise TypeError(
                f"{name}() local must be a LocalTerrarium or None, not {type(local).__name__}"
            )
        esm, css = bundle(self.bundle_name)
        # anywidget reads _esm/_css from the instance: set before its __init__.
        self.esm_path, self.css_path = esm, css
        self._esm = esm.read_text(encoding="utf-8")
        if css is not None:
            self._css = css.read_text(encoding="utf-8")
        super().__init__(agent_id=agent_id, transport=transport)
        self._local = local
        self._link = WidgetLink(
            lambda message: self.send(message),
            agent_id=agent_id,
            agent=agent_object,
            local=self._local_registry,
        )
        self.on_msg(self._on_custom_message)

    def _local_registry(self) -> LocalTerrarium | None:
        return self._local if isinstance(self._local, LocalTerrarium) else current_registry()

    def _on_custom_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        self._link.handle(content)

    def close(self) -> None:
        """Detach from the agents' mirrors, then close the comm."""
        link = getattr(self, "_link", None)
        if link is not None:
            link.close()
        super().close()


class _OneAgentWidget(TerrariumWidget):
    """A widget about exactly one agent: a server agent's id, or a ``FluxAgent`` of this kernel."""

    accepted: ClassVar[tuple[str, ...]] = ("agent_id", "transport", "local")

    def __init__(
        self,
        agent_id: str | FluxAgent,
        *,
        transport: str = "auto",
        local: LocalTerrarium | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__(
            agent_id,
            optional=False,
            transport=transport,
            local=local,
            unknown=unknown,
            accepted=self.accepted,
        )


class AgentView(_OneAgentWidget):
    """One agent as a live DensityField tile, with its vitals and event log.

    ``AgentView("echo")`` watches a server agent (or a kernel-local one of
    that id); ``AgentView(agent)`` watches a ``FluxAgent`` object of this kernel.
    """

    bundle_name = "agent_view"


class Terrarium(TerrariumWidget):
    """Every agent as a tile; agents appear and disappear live."""

    bundle_name = "terrarium_grid"
    accepted: ClassVar[tuple[str, ...]] = ("transport", "local")

    def __init__(
        self, *, transport: str = "auto", local: LocalTerrarium | None = None, **unknown: Any
    ) -> None:
        super().__init__(
            None,
            optional=True,
            transport=transport,
            local=local,
            unknown=unknown,
            accepted=self.accepted,
        )


class PerturbConsole(_OneAgentWidget):
    """A JSON input that perturbs one agent and lists every reply (result, error, semaphore)."""

    bundle_name = "perturb_console"


class PurgatoryPanel(TerrariumWidget):
    """Pending semaphores as cards to answer or cancel; ``agent_id=None`` shows every agent's."""

    bundle_name = "purgatory_panel"
    accepted: ClassVar[tuple[str, ...]] = ("agent_id", "transport", "local")

    def __init__(
        self,
        agent_id: str | FluxAgent | None = None,
        *,
        transport: str = "auto",
        local: LocalTerrarium | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__(
            agent_id,
            optional=True,
            transport=transport,
            local=local,
            unknown=unknown,
            accepted=self.accepted,
        )


__all__ = [
    "AgentView",
    "BundleMissing",
    "PerturbConsole",
    "PurgatoryPanel",
    "Terrarium",
    "TerrariumWidget",
    "bundle",
]
