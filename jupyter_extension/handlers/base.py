"""What the Terrarium handlers share: the context, read access and JSON errors."""

from __future__ import annotations

import json
import re
from typing import Any, cast

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from jupyter_extension.context import (
    AUTH_RESOURCE,
    CONTEXT_SETTING,
    EXTENSION_NAME,
    TerrariumContext,
)
from jupyter_extension.wire import handshake_refusal
from terrarium.errors import BadRequest
from terrarium.events import parse_json, to_json
from terrarium.names import NAME_RULE, is_name
from terrarium.protocol import ErrorCode
from terrarium.served import LocalAgent, ServedAgent

_CODES: dict[int, ErrorCode] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
    500: "internal_error",
    503: "agent_unavailable",
    504: "timeout",
}


class ApiError(web.HTTPError):
    """An error with the protocol's ``{"error": CODE, "message": ...}`` body."""

    def __init__(self, status: int, code: ErrorCode, message: str, **extra: Any) -> None:
        super().__init__(status, log_message=message.replace("%", "%%"))
        self.code = code
        self.message = message
        self.extra = extra


#: The largest ``since`` taken: the largest integer a JavaScript client holds exactly.
MAX_SEQ = 2**53 - 1
#: The most events one ``api/agents/{id}/events`` answer may be asked for.
MAX_LIMIT = 100_000
_DIGITS = re.compile(r"[0-9]{1,16}")


class TerrariumMixin(ExtensionHandlerMixin):
    """Gives a handler the context, the read-access rule of ``public_observe`` and
    the protocol's JSON errors.

    It stores nothing on the instance. CPython shares one attribute table
    among a class's instances only while each holds at most 29 attributes,
    and an open WebSocket handler already has 29 from Tornado and
    jupyter_server: one more gives every connection a table of its own,
    1.3 KiB per idle observer. So ``name`` is the class's, and the context
    is read from the application's settings.
    """

    auth_resource = AUTH_RESOURCE
    name = EXTENSION_NAME

    def initialize(self, name: str, *args: Any, **kwargs: Any) -> None:
        # ExtensionHandlerMixin.initialize would only store ``name`` on the instance,
        # and RequestHandler.initialize takes nothing.
        if name != self.name:
            raise RuntimeError(
                f"Terrarium's handlers serve the {self.name!r} extension, not {name!r}"
            )

    @property
    def context(self) -> TerrariumContext:
        return cast(TerrariumContext, self.settings[CONTEXT_SETTING])

    async def check_read_access(self: Any) -> None:
        """Public when ``public_observe`` is on; otherwise a login with ``read`` on terrarium."""
        if self.context.public_observe:
            return
        user = self.current_user
        if user is None:
            raise ApiError(
                403, "forbidden", "observing needs a Jupyter login (public_observe is off)"
            )
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise ApiError(403, "forbidden", f"not authorized to read {AUTH_RESOURCE}")

    async def locate(self, agent_id: str) -> ServedAgent:
        """This process's agent, or else one another replica owns (through the bus).

        The routes take any path segment, so an id that is not a name gets the
        protocol's JSON 404 here rather than Jupyter's HTML page.
        """
        if not is_name(agent_id):
            raise ApiError(404, "unknown_agent", f"{agent_id!r} is not an agent id ({NAME_RULE})")
        context = self.context
        if agent_id in context.registry:
            return LocalAgent(context.registry.get(agent_id), context.status)
        remote = await self.context.events.remote(agent_id)
        if remote is None:
            raise ApiError(404, "unknown_agent", f"no agent {agent_id!r}")
        return remote

    def write_error(self: Any, status_code: int, **kwargs: Any) -> None:
        """Every error in the protocol's JSON shape, Jupyter's own 403s and a refused
        WebSocket handshake's included; never a traceback or an HTML page."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            body = {"error": error.code, "message": error.message, **error.extra}
        elif isinstance(error, web.HTTPError):
            message = error.log_message or error.reason or self._reason
            body = {"error": _CODES.get(status_code, "http_error"), "message": message}
        else:
            body = {"error": "internal_error", "message": "unexpected server error"}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def refuse_unless_websocket(self: Any) -> None:
        """Refuse what Tornado would refuse of a WebSocket handshake, in JSON."""
        refusal = handshake_refusal(self)
        if refusal is not None:
            status, reason = refusal
            raise ApiError(status, _CODES[status], reason)

    def query_integer(self: Any, name: str, lowest: int, highest: int) -> int | None:
        """A query argument that must be a plain integer in ``lowest..highest``; None if absent.

        Plain means ASCII digits only, unstripped: ``int()`` alone would also
        take ``+5``, ``1_0``, `` 5`` and other scripts' digits, and
        ``isdigit()`` takes ``²``, which ``int()`` then refuses.
        """
        value = self.get_query_argument(name, None, strip=False)
        if value is None:
            return None
        number = int(value) if _DIGITS.fullmatch(value) else -1
        if not lowest <= number <= highest:
            message = f"{name} must be a whole number from {lowest} to {highest}"
            raise ApiError(400, "bad_request", message)
        return number

    def since(self) -> int | None:
        """The ``since`` of an observe socket or an events request (0 to ``MAX_SEQ``)."""
        result: int | None = self.query_integer("since", 0, MAX_SEQ)
        return result

    def username(self: Any) -> str | None:
        user = self.current_user
        return getattr(user, "username", None) if user is not None else None

    def who(self: Any) -> str | None:
        """Whom people see as the author of a perturbation or an answer: the identity
        provider's display name, else its name; a bare generated id is cut short."""
        user = self.current_user
        if user is None:
            return None
        username = getattr(user, "username", "") or ""
        for name in (getattr(user, "display_name", ""), getattr(user, "name", "")):
            if name and name != username:
                return str(name)
        return username[:8] if len(username) == 32 else username or None

    def rate_key(self: Any) -> str:
        """Whom a REST rate limit counts: the holder of the server token, or the user.

        Jupyter makes up a new anonymous user for every request that carries
        the token but no cookie, so for those the token is the one principal.
        """
        if self.token_authenticated:
            return "token"
        return self.username() or "anonymous"


class TerrariumAPIHandler(TerrariumMixin, APIHandler):
    """JSON routes."""

    def write_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(to_json(body))

    def json_body(self) -> Any:
        limit = self.context.max_message_size
        if len(self.request.body) > limit:
            raise ApiError(413, "too_large", f"request body exceeds {limit} bytes")
        try:
            return parse_json(self.request.body or b"null", "body")
        except BadRequest as error:
            raise ApiError(400, "bad_request", str(error)) from None


__all__ = [
    "ApiError",
    "JupyterHandler",
    "TerrariumAPIHandler",
    "TerrariumMixin",
]
