"""Purgatory over REST: list, read, resolve and cancel an agent's semaphore tokens.

Reads follow ``public_observe``; resolving and cancelling need ``execute`` on
resource ``terrarium``. 404 for an unknown agent or token, 409 for a token
that is no longer pending. For an agent another replica owns, reads come
from the shared token store and resolve/cancel are routed to the owner. A
shared store answers from memory; a token it does not hold (an old, settled
one) is read from its backend, awaited here, never blocking the loop.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized

from jupyter_extension.handlers.base import ApiError, TerrariumAPIHandler
from jupyter_extension.handlers.rest import STATUS_OF
from terrarium.errors import PerturbationError
from terrarium.purgatory import NotPending, UnknownToken
from terrarium.purgatory.tokens import SemaphoreToken
from terrarium.served import ServedAgent


class PurgatoryHandler(TerrariumAPIHandler):
    async def find_token(self, agent: ServedAgent, token_id: str) -> SemaphoreToken:
        try:
            return await agent.token(token_id)
        except UnknownToken as error:
            raise ApiError(404, "unknown_token", str(error)) from None

    async def settle(self, agent: ServedAgent, token_id: str, body: Any) -> None:
        """Resolve (``body`` is the request) or cancel (``body`` is None), here or on the owner."""
        found = await self.find_token(agent, token_id)
        if not found.pending:  # a token settles once: no need to ask the owner
            error = NotPending(found)
            raise ApiError(409, "not_pending", str(error), token=found.as_protocol())
        try:
            if body is None:
                token = await agent.cancel(token_id)
            else:
                token = await agent.resolve(token_id, body["human_input"], self.who())
        except NotPending as error:
            raise ApiError(
                409, "not_pending", str(error), token=error.token.as_protocol()
            ) from None
        except UnknownToken as error:
            raise ApiError(404, "unknown_token", str(error)) from None
        except PerturbationError as error:
            raise ApiError(STATUS_OF.get(error.code, 503), error.code, str(error)) from None
        self.write_json({"token": token.as_protocol()})


class PendingHandler(PurgatoryHandler):
    @allow_unauthenticated
    async def get(self, agent_id: str) -> None:
        await self.check_read_access()
        pending = (await self.locate(agent_id)).pending()
        self.write_json({"pending": [token.as_protocol() for token in pending]})


class TokenHandler(PurgatoryHandler):
    @allow_unauthenticated
    async def get(self, agent_id: str, token_id: str) -> None:
        await self.check_read_access()
        agent = await self.locate(agent_id)
        self.write_json((await self.find_token(agent, token_id)).as_protocol())


class ResolveHandler(PurgatoryHandler):
    """Resolve once: the agent's ``resume`` runs as a priority-200 reentry."""

    @authorized("execute")  # type: ignore[untyped-decorator]
    async def post(  # type: ignore[override]
        self, agent_id: str, token_id: str
    ) -> None:
        agent = await self.locate(agent_id)
        body = self.json_body()
        if not isinstance(body, dict) or "human_input" not in body:
            raise ApiError(400, "bad_request", 'body must be {"human_input": ...}')
        await self.settle(agent, token_id, body)


class CancelHandler(PurgatoryHandler):
    @authorized("execute")  # type: ignore[untyped-decorator]
    async def post(  # type: ignore[override]
        self, agent_id: str, token_id: str
    ) -> None:
        await self.settle(await self.locate(agent_id), token_id, None)
