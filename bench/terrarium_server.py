"""Terrarium under test: a real Jupyter server with the real extension, plus bench hooks.

``python -m bench.terrarium_server --port P --token T [--cpu C]`` starts
jupyter_server's ``ServerApp`` in this process with the ``jupyter_extension``
server extension, the bench agent ``firehose`` and the demo agents (``echo``
for the /perturb round trip), on 127.0.0.1 with a fixed token and no rate
limit. Everything observers and perturbations touch is the package's code.

What this launcher adds, all bench-only and outside the package:

- the ``firehose`` agent is re-registered with a handler that understands two
  extra fields, ``burst`` and ``rate`` (see ``bench.emission``), because the
  protocol's firehose always yields every 64 events and the scenarios need
  "one event per loop iteration", "bursts of 16" and a fixed rate. Requests
  without those fields go to the package's own ``Firehose`` unchanged;
- the firehose mirror's ``reflect`` is wrapped in a timer (T1);
- a 1 ms loop-lateness probe runs on the server's loop (T7);
- ``/bench/stats``, ``/bench/reset`` and ``/bench/stop`` serve those figures;
- with ``BENCH_PROFILE=FILE`` in the environment, cProfile stats go to FILE at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
from typing import Any

from bench.emission import EmitRequest, emit_events
from bench.probes import BenchProbes, StopSignal
from bench.procs import pin, raise_fd_limit

AGENT = "firehose"


class PacedFirehose:
    """The protocol's firehose, plus the bench-only ``burst`` and ``rate`` fields."""

    genus_name = "firehose"

    def __init__(self, stop: StopSignal) -> None:
        from terrarium.demo import Firehose
        from terrarium.flux import FluxAgent

        self.inner = Firehose()
        self.agent: FluxAgent | None = None
        self.stop = stop

    async def invoke(self, data: Any) -> dict[str, int]:
        request = EmitRequest.parse(data)
        if not request.paced:
            return await self.inner.invoke(request.protocol_part())
        assert self.agent is not None
        reflect = self.agent.mirror.reflect
        output = "x" * request.size

        def emit() -> None:
            reflect("result", {"output": output, "perturbation_id": None})

        return {"emitted": await emit_events(emit, request, self.stop)}


def _terrarium_app(serverapp: Any) -> Any:
    from jupyter_extension.app import TerrariumApp

    for apps in serverapp.extension_manager.extension_apps.values():
        for app in apps:
            if isinstance(app, TerrariumApp):
                return app
    raise RuntimeError("the jupyter_extension server extension is not loaded")


async def install_hooks(serverapp: Any) -> None:
    """Swap in the paced firehose, time its reflect, start the probe, add /bench routes."""
    from jupyter_server.auth.decorator import allow_unauthenticated

    from bench.tornado_routes import ROUTE, BenchHandler
    from terrarium.flux import AgentState, FluxAgent, FluxConfig

    registry = _terrarium_app(serverapp).registry
    for _ in range(1000):  # the extension starts its agents once the loop runs
        if registry.get(AGENT).state is not AgentState.DORMANT:
            break
        await asyncio.sleep(0.01)
    await registry.unregister(AGENT)

    probes = BenchProbes(lambda: registry.mirror(AGENT).observer_count)
    handler = PacedFirehose(probes.stop)
    agent = FluxAgent(handler, agent_id=AGENT, config=FluxConfig(perturbation_timeout=600))
    handler.agent = handler.inner.agent = agent
    registry.register(agent)  # binds the mirror the registry configures; wrap that one
    agent.mirror.reflect = probes.calls.wrap(agent.mirror.reflect)  # type: ignore[method-assign]
    probes.start()

    class JupyterBenchHandler(BenchHandler):
        @allow_unauthenticated
        def get(self, name: str) -> None:
            super().get(name)

    serverapp.web_app.add_handlers(".*$", [(ROUTE, JupyterBenchHandler, {"probes": probes})])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--root", default=".")
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args()
    pin(args.cpu)
    raise_fd_limit()

    from jupyter_server.serverapp import ServerApp

    app = ServerApp()
    app.initialize(
        argv=[
            "--ServerApp.jpserver_extensions={'jupyter_extension': True}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={args.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={args.root}",
            f"--IdentityProvider.token={args.token}",
            "--TerrariumApp.bench_agents=True",
            "--TerrariumApp.demo_agents=True",
            "--TerrariumApp.perturb_rate_limit=0",
        ]
    )
    app.io_loop.add_callback(install_hooks, app)
    profile_to = os.environ.get("BENCH_PROFILE")
    if not profile_to:
        app.start()
        return
    # Investigation aid: BENCH_PROFILE=FILE writes the server's cProfile stats at exit.
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        app.start()
    finally:
        profiler.disable()
        profiler.dump_stats(profile_to)


if __name__ == "__main__":
    main()
