"""Terrarium's notebook widgets (anywidget): the Python side.

The JavaScript (``js/src``, bundled into ``terrarium/static``) does the
drawing and, where the page carries the Terrarium server extension, talks to
the server itself: same-origin observe sockets and REST with the page's own
login. Widget state is only ``agent_id`` and ``transport`` (and, for
``Pipeline``, ``pipeline_id`` and the ``selected`` stage): no token, ever.

Where no server extension is reachable (VS Code, Colab, marimo, nbval), the
JavaScript falls back to the kernel comm, and the Python side answers from
agents living in this kernel (``terrarium.widgets.comm``): an agent object given to
the widget, or one registered in the kernel's ``LocalTerrarium``.

Each widget class is data: its bundle (``_esm`` and ``_css``, paths into
``terrarium/static``, so anywidget reloads them live under ``ANYWIDGET_HMR=1``
while ``npm run watch`` rebuilds them) and the keywords it accepts
(``options``). One constructor, on ``TerrariumWidget``, serves them all, and it
is strict in the lonboard spirit: an unknown keyword or a wrong type fails at
once with an error naming what is accepted, instead of a widget that silently
shows nothing.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Final

import anywidget
import traitlets

from terrarium.flux import FluxAgent
from terrarium.local import LocalTerrarium, current_registry
from terrarium.names import NAME_RULE, is_name
from terrarium.widgets.comm import WidgetLink

#: Where ``npm run build`` (in js/) puts the bundles.
STATIC: Final = Path(__file__).parent.parent / "static"
TRANSPORTS: Final = ("auto", "server", "comm")
#: The class attributes anywidget reads a widget's bundle from.
BUNDLE_KEYS: Final = ("_esm", "_css")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of an option that has none: the argument must be given.
REQUIRED: Final = _Required()

#: Every option a widget may accept, with the value a widget that does not accept it uses.
DEFAULTS: Final[Mapping[str, object]] = MappingProxyType(
    {"agent_id": None, "pipeline_id": None, "transport": "auto", "local": None}
)
#: The options that may also be given as the one positional argument (a widget has one at most).
POSITIONAL: Final = ("agent_id", "pipeline_id")
#: How each option reads in a widget's signature (``help(AgentView)``).
_ANNOTATIONS: Final = {
    "agent_id": "str | FluxAgent",
    "pipeline_id": "str",
    "transport": "Literal['auto', 'server', 'comm']",
    "local": "LocalTerrarium | None",
}


class BundleMissing(FileNotFoundError):
    """A widget's JavaScript bundle has not been built."""


def bundle_missing(path: Path) -> BundleMissing:
    """The error for an unbuilt bundle, with the command that builds it.

    A widget without its JavaScript would only show an empty cell.
    """
    return BundleMissing(
        f"the Terrarium widget bundle {path} is missing. Build it: `uv sync` in the "
        "repository builds it on install (needs Node.js and npm), or run "
        "`npm ci && npm run build` in js/."
    )


def accepts(**defaults: object) -> Mapping[str, object]:
    """A widget's ``options``: the keywords it accepts, in order, each with its default.

    ``REQUIRED`` marks a keyword without a default. Only the keywords of
    ``DEFAULTS`` exist: a widget chooses among them, it does not invent any.
    """
    unknown = [name for name in defaults if name not in DEFAULTS]
    if unknown:
        raise TypeError(
            f"no widget option {', '.join(unknown)}; the options are: {', '.join(DEFAULTS)}"
        )
    return MappingProxyType(dict(defaults))


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


def _check_pipeline(widget: str, value: object) -> str:
    """A pipeline id: the name a server registered its pipeline under."""
    if not isinstance(value, str):
        raise TypeError(
            f"{widget}() pipeline_id must be a pipeline id (str), not {type(value).__name__}"
        )
    if not is_name(value):
        raise ValueError(f"{widget}() pipeline_id {value!r} is not a pipeline id: {NAME_RULE}")
    return value


def _check_transport(widget: str, value: object) -> str:
    if not isinstance(value, str) or value not in TRANSPORTS:
        raise ValueError(f"{widget}() transport must be one of {', '.join(TRANSPORTS)}")
    return value


def _check_local(widget: str, value: object) -> LocalTerrarium | None:
    if value is not None and not isinstance(value, LocalTerrarium):
        raise TypeError(
            f"{widget}() local must be a LocalTerrarium or None, not {type(value).__name__}"
        )
    return value


def _signature(options: Mapping[str, object]) -> inspect.Signature:
    """The signature the one constructor has for a widget with these options."""
    parameters = []
    for name, default in options.items():
        annotation = _ANNOTATIONS[name]
        if name == "agent_id" and default is None:
            annotation += " | None"
        parameters.append(
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD
                if name in POSITIONAL
                else inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if default is REQUIRED else default,
                annotation=annotation,
            )
        )
    return inspect.Signature(parameters, return_annotation="None")


class TerrariumWidget(anywidget.AnyWidget):
    """What the widgets share: the one strict constructor, the bundles and the comm link.

    A widget class only declares data: ``_esm`` and ``_css`` (paths of its
    bundle and of the shared styles) and ``options`` (from ``accepts``).
    """

    #: The bundle, a path as declared; anywidget turns a built one into file
    #: contents it watches under ``ANYWIDGET_HMR=1``.
    _esm: ClassVar[object]
    _css: ClassVar[object]
    #: Which of ``_esm`` and ``_css`` were declared as paths, and those paths.
    _bundles: ClassVar[Mapping[str, Path]] = MappingProxyType({})
    #: The keywords the constructor accepts, each with its default; ``agent_id``
    #: (or ``pipeline_id``), where accepted, may also be the one positional argument.
    options: ClassVar[Mapping[str, object]] = accepts()
    __signature__: ClassVar[inspect.Signature]

    agent_id = traitlets.Unicode(None, allow_none=True).tag(sync=True)
    transport = traitlets.Enum(TRANSPORTS, "auto").tag(sync=True)
    #: This widget's own key, so every view of it in the page shares one connection
    #: (anywidget hands each view a different proxy of the same model).
    _instance = traitlets.Unicode(read_only=True).tag(sync=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # anywidget turns a bundle path on the class into file contents, and
        # raises FileNotFoundError for a path that is not a file, at import
        # time. An unbuilt bundle must not break `import terrarium.widgets`:
        # anywidget does not see it, the class keeps the bare path, and the
        # constructor reports it (BundleMissing says how to build it).
        # (The classes anywidget makes per instance carry traits here, not declarations.)
        own = {
            key: value
            for key in BUNDLE_KEYS
            if key in cls.__dict__
            and not isinstance(value := cls.__dict__[key], traitlets.TraitType)
        }
        declared = {key: value for key, value in own.items() if isinstance(value, Path)}
        unbuilt = {key: path for key, path in declared.items() if not path.is_file()}
        for key in unbuilt:
            delattr(cls, key)
        try:
            super().__init_subclass__(**kwargs)
        finally:
            for key, path in unbuilt.items():
                setattr(cls, key, path)
        if own:
            inherited = {key: path for key, path in cls._bundles.items() if key not in own}
            cls._bundles = MappingProxyType({**inherited, **declared})
        if "options" in cls.__dict__:
            accepts(**cls.options)  # a misdeclared widget fails where it is declared
            if len([name for name in cls.options if name in POSITIONAL]) > 1:
                raise TypeError(f"{cls.__name__} accepts more than one of {', '.join(POSITIONAL)}")
            cls.__signature__ = _signature(cls.options)

    @traitlets.default("_instance")
    def _new_instance(self) -> str:
        return uuid.uuid4().hex

    def __init__(self, *args: object, **kwargs: object) -> None:
        widget = type(self).__name__
        values = self._bind(widget, args, kwargs)
        optional = self.options.get("agent_id") is not REQUIRED
        agent_id, agent = _check_agent(widget, values["agent_id"], optional=optional)
        transport = _check_transport(widget, values["transport"])
        local = _check_local(widget, values["local"])
        state: dict[str, object] = {"agent_id": agent_id, "transport": transport}
        if "pipeline_id" in self.options:
            state["pipeline_id"] = _check_pipeline(widget, values["pipeline_id"])
        self._check_bundles(widget)
        super().__init__(**state)
        self._local = local
        self._link = WidgetLink(
            lambda message: self.send(message),
            agent_id=agent_id,
            agent=agent,
            local=self._local_registry,
        )
        self.on_msg(self._on_custom_message)

    def _bind(
        self, widget: str, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> dict[str, object]:
        """The arguments by name, defaults filled in; a TypeError naming what is accepted."""
        options = self.options
        accepted = ", ".join(options)
        unknown = sorted(name for name in kwargs if name not in options)
        if unknown:
            raise TypeError(
                f"{widget}() got unexpected keyword argument(s) {', '.join(unknown)}; "
                f"it accepts: {accepted}"
            )
        positional = next((name for name in options if name in POSITIONAL), None)
        if args:
            if positional is None or len(args) > 1:
                takes = f"{positional} alone" if positional else "none"
                raise TypeError(
                    f"{widget}() got {len(args)} positional argument(s), it takes {takes}; "
                    f"it accepts: {accepted}"
                )
            if positional in kwargs:
                raise TypeError(f"{widget}() got {positional} both as an argument and as a keyword")
            kwargs = {positional: args[0], **kwargs}
        missing = [
            name for name, dflt in options.items() if dflt is REQUIRED and name not in kwargs
        ]
        if missing:
            raise TypeError(
                f"{widget}() missing required argument(s) {', '.join(missing)}; "
                f"it accepts: {accepted}"
            )
        return {**DEFAULTS, **options, **kwargs}

    def _check_bundles(self, widget: str) -> None:
        """Fail with BundleMissing before anywidget would send a path as the module's source."""
        cls = type(self)
        if getattr(cls, "_esm", None) is None:
            raise TypeError(f"{widget} declares no _esm bundle: it is not a widget to show")
        for key, path in cls._bundles.items():
            if not path.is_file():
                raise bundle_missing(path)
            if getattr(cls, key) is path:
                # Built after the class was made: read it for this widget (a fresh
                # import gets it watched for hot reload).
                setattr(self, key, path.read_text(encoding="utf-8"))

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


class AgentView(TerrariumWidget):
    """One agent as a live DensityField tile, with its vitals and event log.

    ``AgentView("echo")`` watches a server agent (or a kernel-local one of
    that id); ``AgentView(agent)`` watches a ``FluxAgent`` object of this kernel.
    """

    _esm = STATIC / "agent_view.js"
    _css = STATIC / "terrarium.css"
    options = accepts(agent_id=REQUIRED, transport="auto", local=None)


class Terrarium(TerrariumWidget):
    """Every agent as a tile; agents appear and disappear live."""

    _esm = STATIC / "terrarium_grid.js"
    _css = STATIC / "terrarium.css"
    options = accepts(transport="auto", local=None)


class PerturbConsole(TerrariumWidget):
    """A JSON input that perturbs one agent and lists every reply (result, error, semaphore)."""

    _esm = STATIC / "perturb_console.js"
    _css = STATIC / "terrarium.css"
    options = accepts(agent_id=REQUIRED, transport="auto", local=None)


class PurgatoryPanel(TerrariumWidget):
    """Pending semaphores as cards to answer or cancel; ``agent_id=None`` shows every agent's."""

    _esm = STATIC / "purgatory_panel.js"
    _css = STATIC / "terrarium.css"
    options = accepts(agent_id=None, transport="auto", local=None)


class Pipeline(TerrariumWidget):
    """A pipeline drawn live: its stages as DensityFields, its edges flowing, congestion marked.

    ``Pipeline("requests")`` shows the pipeline the Jupyter server registered
    as ``requests``: its figures come from the Terrarium server extension
    (``api/pipelines/requests``, every second) and each stage's DensityField
    from that stage's observe stream. Where the page reaches only the kernel
    comm (no server extension), the widget says so instead of drawing.

    Clicking a stage aims the Beam under the graph at it and sets
    ``selected``; point a ``PerturbConsole`` at the same stage with
    ``traitlets.dlink((pipeline, "selected"), (console, "agent_id"))``, or set
    ``selected`` from Python to aim the widget's own Beam.
    """

    _esm = STATIC / "pipeline.js"
    _css = STATIC / "terrarium.css"
    options = accepts(pipeline_id=REQUIRED)

    #: The pipeline shown; changing it redraws the widget for the new one.
    pipeline_id = traitlets.Unicode().tag(sync=True)
    #: The stage the Beam is aimed at (the one clicked last), or None before any is.
    selected = traitlets.Unicode(None, allow_none=True).tag(sync=True)

    @traitlets.validate("pipeline_id")
    def _valid_pipeline(self, proposal: dict[str, Any]) -> str:
        return _check_pipeline(type(self).__name__, proposal["value"])

    @traitlets.validate("selected")
    def _valid_stage(self, proposal: dict[str, Any]) -> str | None:
        value = proposal["value"]
        if value is not None and not is_name(value):
            raise traitlets.TraitError(f"selected {value!r} is not a stage id: {NAME_RULE}")
        return value  # type: ignore[no-any-return]


__all__ = [
    "REQUIRED",
    "AgentView",
    "BundleMissing",
    "PerturbConsole",
    "Pipeline",
    "PurgatoryPanel",
    "Terrarium",
    "TerrariumWidget",
    "accepts",
    "bundle_missing",
]
