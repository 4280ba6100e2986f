"""``TerrariumApp``: the Jupyter server extension, and the ``jupyter terrarium`` command.

The app builds one ``AgentRegistry`` from its traits, loads the configured
agents into it, and hands it to every handler in the web application's settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.serverapp import ServerApp
from prometheus_client import REGISTRY
from traitlets import Bool, Enum, Float, Int, List, TraitError, Unicode, default, validate

import terrarium
from jupyter_extension.backplane import make_bus, redis_token_store
from jupyter_extension.context import CONTEXT_SETTING, EXTENSION_NAME, TerrariumContext
from jupyter_extension.handlers.observe import ObserveHandler
from jupyter_extension.handlers.page import DashboardHandler
from jupyter_extension.handlers.perturb import PerturbHandler
from jupyter_extension.handlers.pipelines import PipelineHandler, PipelinesHandler
from jupyter_extension.handlers.prism import CommandHandler, GenusHandler, OpenAPIHandler
from jupyter_extension.handlers.publish import PublishHandler
from jupyter_extension.handlers.purgatory import (
    CancelHandler,
    PendingHandler,
    ResolveHandler,
    TokenHandler,
)
from jupyter_extension.handlers.rest import (
    AgentHandler,
    AgentsHandler,
    EventsHandler,
    HealthHandler,
    NotFoundHandler,
    PerturbRestHandler,
)
from jupyter_extension.keepalive import PING_INTERVAL_MS, Keepalive
from jupyter_extension.loading import (
    AgentLoadError,
    Servable,
    agents_from_entry_points,
    agents_from_spec,
)
from jupyter_extension.prometheus import TerrariumCollector
from jupyter_extension.wire import WEBSOCKET_TEXT
from terrarium.backplane.settings import BackplaneSettings
from terrarium.demo.agents import demo_agents, firehose_agent
from terrarium.demo.grammar import Grammar
from terrarium.demo.pipeline import demo_pipeline
from terrarium.flux import AgentState
from terrarium.mirror import MAX_BYTES
from terrarium.pipeline import Pipeline
from terrarium.purgatory.stores import (
    MemoryTokenStore,
    SharedTokenStore,
    SQLiteTokenStore,
    TokenStore,
)
from terrarium.registry import AgentRegistry, MirrorSettings

HERE = Path(__file__).parent
AUDIT_SCHEMA_ID = "https://terrarium.dev/events/perturbation"
#: Any one path segment: the handlers check names themselves (``terrarium.names``), so an
#: id outside the pattern gets the protocol's JSON 404, not Jupyter's HTML page.
SEGMENT = r"([^/]+)"


class TerrariumApp(ExtensionApp):
    """Serve flux agents: the Reflection, the Beam, the REST routes and the dashboard."""

    name = EXTENSION_NAME
    version = terrarium.__version__  # what `jupyter terrarium --version` prints
    description = "Watch and steer live agents: Terrarium's gateway on Jupyter Server."
    extension_url = "/terrarium/"
    load_other_extensions = True
    static_paths = List(
        Unicode(),
        [str(HERE / "static")],
        help="Folders served under static/terrarium/ (the dashboard's bundle lives in the first).",
    ).tag(config=True)

    agents = List(
        Unicode(),
        help="""Agents to serve, as 'module:factory' strings. A factory returns a
        FluxAgent or a list of them. Agents from the 'terrarium.agents' entry-point
        group are loaded as well.""",
    ).tag(config=True)

    load_entry_points = Bool(
        True, help="Also load the agents of every installed 'terrarium.agents' entry point."
    ).tag(config=True)

    demo_agents = Bool(
        False,
        help="""Serve the demo agents echo, heartbeat, slow and approver, and the demo
        pipeline 'requests' (commands | parse | route | review). On for
        'jupyter terrarium', off when the extension is loaded into another server.""",
    ).tag(config=True)

    bench_agents = Bool(
        False, help="Serve the bench agent 'firehose' (PROTOCOL.md section 6)."
    ).tag(config=True)

    history_size = Int(
        100, help="Events each mirror keeps for replay to new observers (the ghost)."
    ).tag(config=True)

    observer_queue_size = Int(
        1024,
        help="""Events an observer may fall behind before it is treated as slow:
        it then gets a 'gap' frame or is closed, per slow_observer_policy.""",
    ).tag(config=True)

    mirror_max_bytes = Int(
        MAX_BYTES,
        help="""Bytes of framed events each agent's mirror keeps at most, history and
        live ring together (the newest event always stays). Past it the oldest events
        go first: replay starts later, and an observer that needed them gets a 'gap'.
        An agent's mirror costs at most about this much plus the newest event and
        about 50 bytes per slot (max(history_size, observer_queue_size) slots).""",
    ).tag(config=True)

    slow_observer_policy = Enum(
        ["gap", "close"],
        "gap",
        help="""What happens to an observer that falls more than observer_queue_size
        events behind: 'gap' drops what it missed and says so, 'close' closes with 1013.""",
    ).tag(config=True)

    public_observe = Bool(
        True,
        help="""Let anyone who can reach the server observe (the observe socket, the
        read routes and the dashboard). Off: a Jupyter login with 'read' on 'terrarium'.""",
    ).tag(config=True)

    max_message_size = Int(
        1024 * 1024,
        help="Largest perturb frame or REST body, in bytes; a larger frame closes with 1009.",
    ).tag(config=True)

    perturb_rate_limit = Float(
        1000.0,
        help="""Perturbations per second per WebSocket connection (and per user on
        REST), with an equal burst; beyond it, 'rate_limited'. 0 turns the limit off.""",
    ).tag(config=True)

    perturb_backlog_bytes = Int(
        4 * 1024 * 1024,
        help="""Bytes of replies a perturb socket may leave unread before the server
        stops reading its requests; it reads on once they drain. A client that sends
        and never reads costs the server at most about this much plus one frame.""",
    ).tag(config=True)

    purgatory_store = Enum(
        ["sqlite", "memory"],
        "sqlite",
        help="""Where semaphore tokens are kept: 'sqlite' (survives restarts, at
        purgatory_path) or 'memory' (gone with the server).""",
    ).tag(config=True)

    purgatory_path = Unicode(
        help="""SQLite file of semaphore tokens. Default: terrarium/purgatory.sqlite
        under the Jupyter data directory.""",
    ).tag(config=True)

    @default("purgatory_path")
    def _default_purgatory_path(self) -> str:
        return str(Path(jupyter_data_dir()) / "terrarium" / "purgatory.sqlite")

    metrics_interval = Float(
        1.0, help="Seconds between 'metabolism' events while an agent has observers."
    ).tag(config=True)

    redis_url = Unicode(
        help="""Redis URL (redis://host:port/db) of the backplane shared by several
        gateway replicas; also read from the environment variable TERRARIUM_REDIS_URL.
        Empty (the default): one process, no Redis. Set: every agent runs in one
        replica (its owner), and any replica serves its observers, perturbations and
        semaphores; semaphore tokens are kept in Redis.""",
    ).tag(config=True)

    @default("redis_url")
    def _default_redis_url(self) -> str:
        return os.environ.get("TERRARIUM_REDIS_URL", "")

    replica_id = Unicode(
        help="""This replica's name on the backplane. Default: host, process id and a
        random suffix, so a restarted replica is a new one and claims its agents again.""",
    ).tag(config=True)

    redis_namespace = Unicode(
        "terrarium", help="Prefix of every Redis key, so deployments can share one Redis."
    ).tag(config=True)

    redis_stream_length = Int(
        10_000,
        help="""Events kept per agent in Redis (its event stream is trimmed to the newest
        entries within this many events, and within redis_stream_bytes), and the most
        an owner buffers per agent while Redis is away.""",
    ).tag(config=True)

    redis_stream_bytes = Int(
        64 * 1024 * 1024,
        help="""Bytes of events kept per agent in Redis, and buffered per agent while
        Redis is away. With redis_stream_length, the bound on what an agent costs Redis.""",
    ).tag(config=True)

    redis_heartbeat_ttl = Float(
        5.0,
        help="""Seconds after its last heartbeat (sent every ttl/5 s, at most 1 s) when a
        replica is taken for dead: its agents show as unavailable everywhere.""",
    ).tag(config=True)

    redis_dead_owner_grace = Float(
        300.0,
        help="""Seconds an agent of a dead replica stays listed as unavailable before it
        is dropped (it is replaced at once if a replica registers it again).""",
    ).tag(config=True)

    @validate("history_size", "perturb_backlog_bytes", "mirror_max_bytes")
    def _check_non_negative(self, proposal: dict[str, Any]) -> int:
        return _at_least(proposal, 0)

    @validate("observer_queue_size", "max_message_size")
    def _check_positive_int(self, proposal: dict[str, Any]) -> int:
        return _at_least(proposal, 1)

    @validate("perturb_rate_limit")
    def _check_rate(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] < 0:
            raise TraitError("perturb_rate_limit must be >= 0 (0 turns it off)")
        return float(proposal["value"])

    @validate("redis_heartbeat_ttl", "redis_dead_owner_grace")
    def _check_positive_seconds(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] <= 0:
            raise TraitError(f"{proposal['trait'].name} must be positive")
        return float(proposal["value"])

    @validate("redis_stream_length", "redis_stream_bytes")
    def _check_stream_length(self, proposal: dict[str, Any]) -> int:
        return _at_least(proposal, 1)

    @validate("metrics_interval")
    def _check_interval(self, proposal: dict[str, Any]) -> float:
        if proposal["value"] <= 0:
            raise TraitError("metrics_interval must be positive")
        return float(proposal["value"])

    # -- set-up ---------------------------------------------------------------

    @classmethod
    def initialize_server(cls, *args: Any, **kwargs: Any) -> ServerApp:
        """The server of ``jupyter terrarium``: as root, allowed to start with a warning.

        Containers run as root, and jupyter_server refuses to unless told
        ``allow_root``. Saying so here, after the command line and the config
        files are read, leaves the user's own setting alone (any spelling:
        ``--allow-root``, ``--ServerApp.allow_root=...``, a config file); adding
        it to the command line would clash with theirs.
        """
        serverapp: ServerApp = super().initialize_server(*args, **kwargs)  # type: ignore[no-untyped-call]
        configured = "allow_root" in serverapp.config.get("ServerApp", {})
        if hasattr(os, "geteuid") and os.geteuid() == 0 and not configured:
            serverapp.log.warning(
                "Terrarium: running as root; starting Jupyter with allow_root. "
                "Prefer an unprivileged user where you can."
            )
            serverapp.allow_root = True
        return serverapp

    @property
    def server(self) -> ServerApp:
        assert self.serverapp is not None, "the extension is not linked to a server yet"
        return self.serverapp

    def get_default_logging_config(self) -> dict[str, Any]:
        """traitlets' default, with Terrarium's logger at ``log_level`` instead of DEBUG.

        traitlets leaves the filtering to the handler, so each debug call builds
        a record and walks the stack before it is dropped, and jupyter_server
        logs every successful request at debug: about a tenth of the server's
        work for an observe socket's handshake. A ``logging_config`` that adds
        a more verbose handler sets the logger's level too, as traitlets' own
        example does.
        """
        config: dict[str, Any] = super().get_default_logging_config()
        logger = config.get("loggers", {}).get(self.__class__.__name__)
        console = config.get("handlers", {}).get("console")
        if logger is not None and console is not None:
            logger["level"] = console["level"]
        return config

    def initialize_settings(self) -> None:
        self.registry = AgentRegistry(
            MirrorSettings(
                history_size=self.history_size,
                observer_queue_size=self.observer_queue_size,
                slow_observer_policy="close" if self.slow_observer_policy == "close" else "gap",
                max_bytes=self.mirror_max_bytes,
                framing=WEBSOCKET_TEXT,
            ),
            metrics_interval=self.metrics_interval,
            token_store=self._token_store(),
        )
        self.bus = make_bus(self._backplane(), self.registry, self.log)
        self.context = TerrariumContext(
            registry=self.registry,
            public_observe=self.public_observe,
            max_message_size=self.max_message_size,
            perturb_rate_limit=self.perturb_rate_limit,
            perturb_backlog_bytes=self.perturb_backlog_bytes,
            version=terrarium.__version__,
            audit=self._audit,
            bus=self.bus,
            keepalive=self._keepalive(),
        )
        self.settings[CONTEXT_SETTING] = self.context
        event_logger = self.server.event_logger
        assert event_logger is not None
        if AUDIT_SCHEMA_ID not in event_logger.schemas.schema_ids:
            event_logger.register_event_schema(HERE / "schemas" / "perturbation.yaml")
        self.collector = TerrariumCollector(self.registry)
        REGISTRY.register(self.collector)
        page_config = self.server.web_app.settings.setdefault("page_config_data", {})
        page_config["terrarium"] = {"version": terrarium.__version__, "protocol": 1}
        for served in self._configured_agents():
            try:
                if isinstance(served, Pipeline):
                    self.registry.register_pipeline(served)
                else:
                    self.registry.register(served)
            except (TypeError, ValueError) as error:
                self.log.error("Terrarium could not serve %r: %s", served.id, error)
        if self.demo_agents and Grammar.genus_name not in self.registry.prism:
            self.registry.prism.register(Grammar())
        self.log.info("Terrarium serves %d agents: %s", len(self.registry), self._agent_ids())

    def _keepalive(self) -> Keepalive:
        """Observe sockets are pinged as jupyter_server pings its own (``ws_ping_*``)."""
        settings = self.server.web_app.settings
        return Keepalive(
            settings.get("ws_ping_interval", PING_INTERVAL_MS), settings.get("ws_ping_timeout")
        )

    def _backplane(self) -> BackplaneSettings:
        return BackplaneSettings(
            redis_url=self.redis_url,
            replica_id=self.replica_id,
            namespace=self.redis_namespace,
            stream_length=self.redis_stream_length,
            stream_bytes=self.redis_stream_bytes,
            # A beat several times per TTL, so one lost beat does not make an owner dead.
            heartbeat_interval=max(0.05, min(1.0, self.redis_heartbeat_ttl / 5)),
            heartbeat_ttl=self.redis_heartbeat_ttl,
            dead_owner_grace=self.redis_dead_owner_grace,
        )

    def _token_store(self) -> TokenStore:
        if self.redis_url:
            self.log.info("Terrarium keeps semaphore tokens in Redis (%s)", self.redis_namespace)
            return redis_token_store(self._backplane())
        if self.purgatory_store == "memory":
            return MemoryTokenStore()
        self.log.info("Terrarium keeps semaphore tokens in %s", self.purgatory_path)
        return SQLiteTokenStore(self.purgatory_path)

    def _configured_agents(self) -> list[Servable]:
        agents: list[Servable] = []
        if self.demo_agents:
            agents.extend(demo_agents())
            agents.append(demo_pipeline())
        if self.bench_agents:
            agents.append(firehose_agent())
        for spec in self.agents:
            try:
                agents.extend(agents_from_spec(spec))
            except AgentLoadError as error:
                self.log.error("Terrarium could not load agents %s", error)
        if self.load_entry_points:
            for _name, found in agents_from_entry_points():
                if isinstance(found, AgentLoadError):
                    self.log.error("Terrarium could not load entry point %s", found)
                else:
                    agents.extend(found)
        kept: list[Servable] = []
        names: set[str] = set()
        for served in agents:
            ids = (
                [stage.id for stage in served.stages]
                if isinstance(served, Pipeline)
                else [served.id]
            )
            clash = names.intersection(ids)
            if clash:
                self.log.error(
                    "Terrarium: two agents are named %r; keeping the first", sorted(clash)[0]
                )
                continue
            names.update(ids)
            kept.append(served)
        return kept

    def _agent_ids(self) -> str:
        return ", ".join(agent.id for agent in self.registry) or "(none)"

    def _audit(self, record: dict[str, Any]) -> None:
        event_logger = self.server.event_logger
        if event_logger is not None:
            event_logger.emit(schema_id=AUDIT_SCHEMA_ID, data=record)

    def initialize_handlers(self) -> None:
        base = "terrarium"
        self.handlers.extend(
            [
                (rf"/{base}/?", DashboardHandler),
                (rf"/{base}/observe/{SEGMENT}", ObserveHandler),
                (rf"/{base}/perturb/{SEGMENT}", PerturbHandler),
                (rf"/{base}/publish/{SEGMENT}", PublishHandler),
                (rf"/{base}/api/agents", AgentsHandler),
                (rf"/{base}/api/agents/{SEGMENT}", AgentHandler),
                (rf"/{base}/api/agents/{SEGMENT}/events", EventsHandler),
                (rf"/{base}/api/agents/{SEGMENT}/perturb", PerturbRestHandler),
                (rf"/{base}/api/health", HealthHandler),
                (rf"/{base}/api/pipelines", PipelinesHandler),
                (rf"/{base}/api/pipelines/{SEGMENT}", PipelineHandler),
                (rf"/{base}/api/purgatory/{SEGMENT}/pending", PendingHandler),
                (rf"/{base}/api/purgatory/{SEGMENT}/resolve/{SEGMENT}", ResolveHandler),
                (rf"/{base}/api/purgatory/{SEGMENT}/cancel/{SEGMENT}", CancelHandler),
                (rf"/{base}/api/purgatory/{SEGMENT}/{SEGMENT}", TokenHandler),
            ]
        )

        # Last: ``api/{genus}`` must not shadow the fixed routes above.
        self.handlers.extend(
            [
                (rf"/{base}/api/openapi.json", OpenAPIHandler),
                (rf"/{base}/api/{SEGMENT}", GenusHandler),
                (rf"/{base}/api/{SEGMENT}/{SEGMENT}", CommandHandler),
                (rf"/{base}/.+", NotFoundHandler),
            ]
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Start agents registered before the event loop ran (``jupyter terrarium``).

        With a backplane, the bus starts them itself, once it has claimed them
        and reloaded their history.
        """
        await self.bus.start()
        if self.registry.membership is not None:
            return
        for pipeline in self.registry.pipelines.values():
            pipeline.start()  # downstream first, so each stage finds its readers flowing
        for agent in self.registry:
            if agent.state is AgentState.DORMANT:
                agent.start()

    async def stop_extension(self) -> None:
        self.context.keepalive.stop()
        await self.registry.close()
        await self.bus.close()
        store = self.registry.token_store
        if isinstance(store, SharedTokenStore):
            await store.aclose()  # the bus closed it already, unless it never started
        else:
            store.close()
        REGISTRY.unregister(self.collector)


def _at_least(proposal: dict[str, Any], floor: int) -> int:
    value = int(proposal["value"])
    if value < floor:
        raise TraitError(f"{proposal['trait'].name} must be at least {floor}")
    return value


def main(argv: list[str] | None = None) -> None:
    """``jupyter terrarium``: a Jupyter server with the demo agents, opened on the dashboard."""
    args = list(sys.argv[1:] if argv is None else argv)
    # The demo agents are on unless the command line says otherwise (traitlets refuses both).
    chosen = any(arg.startswith("--TerrariumApp.demo_agents") for arg in args)
    defaults = [] if chosen else ["--TerrariumApp.demo_agents=True"]
    TerrariumApp.launch_instance(defaults + args)  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
