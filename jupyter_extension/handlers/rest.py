"""The REST routes of PROTOCOL.md section 4 that read agents and perturb them.

Read routes follow ``public_observe``; the write route needs ``execute`` on
resource ``terrarium``. Every error body is ``{"error": CODE, "message": ...}``.
With a backplane, agents other replicas own are listed, read and perturbed
here too (through the bus), and STATUS carries ``owner`` and ``available``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized

from jupyter_extension.handlers.base import MAX_LIMIT, ApiError, TerrariumAPIHandler
from terrarium.errors import BadRequest, PerturbationError, RateLimited
from terrarium.events import to_json
from terrarium.flux import Ejected
from terrarium.perturbation import DEFAULT_PRIORITY

#: HTTP status for each refusal code of the Beam.
STATUS_OF = {
    "bad_request": 400,
    "queue_full": 429,
    "rate_limited": 429,
    "agent_error": 500,
    "agent_unavailable": 503,
    "timeout": 504,
}


class AgentsHandler(TerrariumAPIHandler):
    @allow_unauthenticated
    async def get(self) -> None:
        await self.check_read_access()
        self.write_json({"agents": await self.context.events.statuses()})


class AgentHandler(TerrariumAPIHandler):
    @allow_unauthenticated
    async def get(self, agent_id: str) -> None:
        await self.check_read_access()
        self.write_json((await self.locate(agent_id)).status())


class EventsHandler(TerrariumAPIHandler):
    """Kept history after ``since``, as the same JSON the observers received."""

    @allow_unauthenticated
    async def get(self, agent_id: str) -> None:
        await self.check_read_access()
        agent = await self.locate(agent_id)
        since = self.since()
        limit = self.query_integer("limit", 1, MAX_LIMIT)
        epoch = self.get_query_argument("epoch", None, strip=False)
        replay = await agent.replay(since, limit, epoch)
        gap = b"null" if replay.gap is None else b'{"from":%d,"to":%d}' % replay.gap
        tail = b',"epoch":' + to_json(replay.epoch).encode()
        if replay.reset:
            tail += b',"reset":true'
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"events":[' + b",".join(replay.payloads) + b'],"gap":' + gap + tail + b"}")


class PerturbRestHandler(TerrariumAPIHandler):
    """Perturb once and wait: 200 with the output, 202 with a token when a human must
    decide, or the refusal's status and code."""

    @authorized("execute")  # type: ignore[untyped-decorator]
    async def post(  # type: ignore[override]
        self, agent_id: str
    ) -> None:
        agent = await self.locate(agent_id)
        body = self.json_body()
        try:
            if not isinstance(body, dict):
                raise BadRequest("body must be a JSON object")
            if "data" not in body:
                raise BadRequest("missing data")
            if not self.context.rest_bucket(self.rate_key()).take():
                raise RateLimited(f"more than {self.context.perturb_rate_limit:g} requests/s")
            priority = DEFAULT_PRIORITY if body.get("priority") is None else body["priority"]
            submitted = agent.perturb(
                body["data"], priority=priority, timeout=body.get("timeout"), by=self.who()
            )
            perturbation_id = submitted.perturbation_id
            self.context.audit(
                {
                    "agent_id": agent.id,
                    "perturbation_id": perturbation_id,
                    "priority": submitted.priority,
                    "by": self.who(),
                    "via": "rest",
                }
            )
            output: Any = await submitted.future
        except PerturbationError as error:
            raise ApiError(STATUS_OF.get(error.code, 500), error.code, str(error)) from None
        if isinstance(output, Ejected):
            body = {"perturbation_id": perturbation_id, "token": output.token.as_protocol()}
            self.write_json(body, status=202)
        else:
            self.write_json({"perturbation_id": perturbation_id, "output": output})


class HealthHandler(TerrariumAPIHandler):
    @allow_unauthenticated
    async def get(self) -> None:
        await self.check_read_access()
        self.write_json(
            {"status": "ok", "agents": len(self.context.registry), "version": self.context.version}
        )


class NotFoundHandler(TerrariumAPIHandler):
    """Any other path under ``terrarium/``: the protocol's JSON 404, whatever the method.

    Jupyter's own 404 page would do otherwise, and that page carries the
    server's token to a caller who sent it.
    """

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        raise ApiError(404, "not_found", f"no Terrarium route {self.request.path!r}")
