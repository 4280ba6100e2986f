"""Purgatory over REST: list, read, resolve and cancel an agent's semaphore tokens.

Reads follow ``public_observe``; resolving and cancelling need ``execute`` on
resource ``terrarium``. 404 for an unknown agent or token, 409 for a token
that is no longer pending.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import allow_unauthenticated, authorized

from jupyter_extension.handlers.base import ApiError, TerrariumAPIHandler
from terrarium.errors import PerturbationError
from terrarium.purgatory import NotPending, Purgatory, UnknownToken
from terrarium.semaphore import SemaphoreToken


class PurgatoryHandler(TerrariumAPIHandler):
    def purgatory(self, agent_id: str) -> Purgatory:
        return self.find_agent(agent_id).purgatory

    def find_token(self, purgatory: Purgatory, token_id: str) -> SemaphoreToken:
        try:
            return purgatory.get(token_id)
        except UnknownToken as error:
            raise ApiError(404, "unknown_token", str(error)) from None


class PendingHandler(PurgatoryHandler):
    @allow_unauthenticated
    async def get(self, agent_id: str) -> None:
        await self.check_read_access()
        pending = self.purgatory(agent_id).pending()
        self.write_json({"pending": [token.as_protocol() for token in pending]})


class TokenHandler(PurgatoryHandler):
    @allow_unauthenticated
    async def get(self, agent_id: str, token_id: str) -> None:
        await self.check_read_access()
        self.write_json(self.find_token(self.purgatory(agent_id), token_id).as_protocol())


class ResolveHandler(PurgatoryHandler):
    """Resolve once: the agent's ``resume`` runs as a priority-200 reentry."""

    @authorized("execute")  # type: ignore[untyped-decorator]
    async def post(  # type: ignore[override]
        self, agent_id: str, token_id: str
    ) -> None:
        purgatory = self.purgatory(agent_id)
        body = self.json_body()
        if not isinstance(body, dict) or "human_input" not in body:
            raise ApiError(400, "bad_request", 'body must be {"human_input": ...}')
        self.find_token(purgatory, token_id)
        try:
            token = purgatory.resolve(token_id, body["human_input"], by=self.username())
        except NotPending as error:
            raise ApiError(
                409, "not_pending", str(error), token=error.token.as_protocol()
            ) from None
        except PerturbationError as error:
            raise ApiError(503, error.code, str(error)) from None
        self.write_json({"token": token.as_protocol()})


class CancelHandler(PurgatoryHandler):
    @authorized("execute")  # type: ignore[untyped-decorator]
    async def post(  # type: ignore[override]
        self, agent_id: str, token_id: str
    ) -> None:
        purgatory = self.purgatory(agent_id)
        self.find_token(purgatory, token_id)
        try:
            token = purgatory.cancel(token_id)
        except NotPending as error:
            raise ApiError(
                409, "not_pending", str(error), token=error.token.as_protocol()
            ) from None
        self.write_json({"token": token.as_protocol()})
