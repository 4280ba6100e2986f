"""``/bench/stats``, ``/bench/reset`` and ``/bench/stop`` for the Tornado-based servers.

GET only: jupyter_server turns XSRF checks on for every handler of its
application, and these routes carry no state worth protecting.
"""

from __future__ import annotations

import json

from tornado.web import RequestHandler

from bench.probes import BenchProbes

ROUTE = r"/bench/(\w+)"


class BenchHandler(RequestHandler):
    """Serves one ``BenchProbes`` as JSON."""

    def initialize(self, probes: BenchProbes) -> None:
        self.probes = probes

    def get(self, name: str) -> None:
        body = self.probes.route(name)
        if body is None:
            self.set_status(404)
            body = {"error": f"no bench route {name!r}"}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))
