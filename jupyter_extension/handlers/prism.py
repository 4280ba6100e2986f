"""Prism's REST bridge: genus listings, command calls and the OpenAPI document.

``GET {base}terrarium/api/{genus}`` and ``GET {base}terrarium/api/openapi.json``
follow ``public_observe`` like every read route; calling a command is a write
(``execute`` on resource ``terrarium``), since a command may change anything
its agent can.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized

from jupyter_extension.handlers.base import ApiError, TerrariumAPIHandler
from jupyter_extension.openapi import openapi_document
from terrarium.prism.commands import Command, CommandFailed, Genus, UnknownCommand, UnknownGenus
from terrarium.prism.schema import ArgumentsInvalid


class PrismHandler(TerrariumAPIHandler):
    """Finds genera and commands, answering 404 ``not_found`` for unknown names."""

    def find_genus(self, name: str) -> Genus:
        try:
            return self.context.registry.prism.get(name)
        except UnknownGenus as error:
            raise ApiError(404, "not_found", str(error)) from None

    def find_command(self, genus: str, name: str) -> Command:
        try:
            return self.find_genus(genus).command(name)
        except UnknownCommand as error:
            raise ApiError(404, "not_found", str(error)) from None


class GenusHandler(PrismHandler):
    """The genus' listed commands, each with its argument and result schemas."""

    @allow_unauthenticated
    async def get(self, genus: str) -> None:
        await self.check_read_access()
        self.write_json(self.find_genus(genus).describe())


class CommandHandler(PrismHandler):
    """Validate the body as keyword arguments, run the command, answer its result."""

    @authorized("execute")  # type: ignore[untyped-decorator]
    async def post(  # type: ignore[override]
        self, genus: str, name: str
    ) -> None:
        command = self.find_command(genus, name)
        try:
            result = await command.call(self.arguments())
        except ArgumentsInvalid as error:
            raise ApiError(
                400,
                "validation",
                f"arguments of {genus}/{command.name} do not fit: {error}",
                details=error.details,
            ) from None
        except CommandFailed as error:
            self.log.warning(
                "Terrarium command %s/%s raised %s: %s", genus, name, error.error_type, error
            )
            raise ApiError(500, "command_error", str(error), error_type=error.error_type) from None
        self.write_json({"result": result})

    def arguments(self) -> dict[str, Any]:
        """The body as keyword arguments (none when empty).

        A body that is not a JSON object does not fit the arguments either, so
        it is refused as the OpenAPI document says: ``validation``, with details.
        """
        if not self.request.body.strip():
            return {}
        try:
            body = self.json_body()
        except ApiError as error:
            if error.status_code != 400:
                raise
            detail = {"loc": [], "msg": error.message, "type": "json_invalid"}
            raise ArgumentsInvalid([detail]) from None
        if not isinstance(body, dict):
            message = "Input should be a JSON object of keyword arguments"
            raise ArgumentsInvalid([{"loc": [], "msg": message, "type": "dict_type"}])
        return body


class OpenAPIHandler(TerrariumAPIHandler):
    """The OpenAPI 3.1 document of every Terrarium route, each genus' commands included."""

    @allow_unauthenticated
    async def get(self) -> None:
        await self.check_read_access()
        self.write_json(
            openapi_document(
                self.context.registry.prism,
                version=self.context.version,
                base_url=self.base_url,
                public_observe=self.context.public_observe,
            )
        )
