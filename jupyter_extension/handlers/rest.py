"""The REST routes of PROTOCOL.md section 4 that read agents and perturb them.

Read routes follow ``public_observe``; the write route needs ``execute`` on
resource ``terrarium``. Every error body is ``{"error": CODE, "message": ...}``.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized

from jupyter_extension.handlers.base import ApiError, TerrariumAPIHandler
from jupyter_extension.handlers.observe import parse_since
from terrarium.errors import BadRequest, PerturbationError, RateLimited
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
        self.write_json({"agents": self.context.registry.statuses()})


class AgentHandler(TerrariumAPIHandler):
    @allow_unauthenticated
    async def get(self, agent_id: str) -> None:
        await self.check_read_access()
        self.find_agent(agent_id)
        self.write_json(self.context.registry.status(agent_id))


class EventsHandler(TerrariumAPIHandler):
    """Kept history after ``since``, as the same JSON the observers received."""

    @allow_unauthenticated
    async def get(self, agent_id: str) -> None:
        await self.check_read_access()
        mirror = self.find_agent(agent_id).mirror
        since = parse_since(self.get_query_argument("since", None))
        limit_arg = self.get_query_argument("limit", None)
        limit = None
        if limit_arg is not None:
            if not limit_arg.isdigit() or int(limit_arg) < 1:
                raise ApiError(400, "bad_request", "limit must be a whole number >= 1")
            limit = int(limit_arg)
        replay = mirror.replay(since, limit)
        gap = b"null" if replay.gap is None else b'{"from":%d,"to":%d}' % replay.gap
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"events":[' + b",".join(replay.payloads) + b'],"gap":' + gap + b"}")


class PerturbRestHandler(TerrariumAPIHandler):
    """Perturb once and wait: 200 with the output, 202 with a token when a human must
    decide, or the refusal's status and code."""

    @authorized("execute")  # type: ignore[untyped-decorator]
    async def post(  # type: ignore[override]
        self, agent_id: str
    ) -> None:
        agent = self.find_agent(agent_id)
        body = self.json_body()
        try:
            if not isinstance(body, dict):
                raise BadRequest("body must be a JSON object")
            if "data" not in body:
                raise BadRequest("missing data")
            if not self.context.rest_bucket(self.rate_key()).take():
                raise RateLimited(f"more than {self.context.perturb_rate_limit:g} requests/s")
            perturbation = agent.submit(
                body["data"],
                priority=DEFAULT_PRIORITY if body.get("priority") is None else body["priority"],
                timeout=body.get("timeout"),
                by=self.username(),
            )
            self.context.audit(
                {
                    "agent_id": agent.id,
                    "perturbation_id": perturbation.id,
                    "priority": perturbation.priority,
                    "by": perturbation.by,
                    "via": "rest",
                }
            )
            assert perturbation.future is not None
            output: Any = await perturbation.future
        except PerturbationError as error:
            raise ApiError(STATUS_OF.get(error.code, 500), error.code, str(error)) from None
        if isinstance(output, Ejected):
            body = {"perturbation_id": perturbation.id, "token": output.token.as_protocol()}
            self.write_json(body, status=202)
        else:
            self.write_json({"perturbation_id": perturbation.id, "output": output})


class HealthHandler(TerrariumAPIHandler):
    @allow_unauthenticated
    async def get(self) -> None:
        await self.check_read_access()
        self.write_json(
            {"status": "ok", "agents": len(self.context.registry), "version": self.context.version}
        )
