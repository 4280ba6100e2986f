"""The OpenAPI 3.1 document of Terrarium's REST routes (PROTOCOL.md section 4).

The fixed routes are written out here once; every registered genus adds its
listing and one path per visible command, with the request and response
schemas pydantic generated for it (JSON Schema 2020-12, which OpenAPI 3.1
takes as it is). Each command's ``$defs`` move to ``components/schemas``
under a prefix of their own, so two commands may use types of the same name.
"""

from __future__ import annotations

from typing import Any, NotRequired, Required, get_args, get_origin, get_type_hints

from pydantic import TypeAdapter

from jupyter_extension.handlers.base import MAX_LIMIT, MAX_SEQ
from terrarium import protocol
from terrarium.names import NAME_PATTERN
from terrarium.prism.commands import RESERVED_GENERA, Command, Genus, Prism
from terrarium.protocol import Doc

JSONSchema = dict[str, Any]

SCHEMAS = "#/components/schemas/"


def _ref(name: str) -> JSONSchema:
    return {"$ref": SCHEMAS + name}


def _object(required: list[str], **properties: JSONSchema) -> JSONSchema:
    return {"type": "object", "required": required, "properties": properties}


#: The protocol's shapes (terrarium.protocol) the routes below refer to, by component name.
SHAPES: dict[str, Any] = {
    "Error": protocol.ErrorBody,
    "ValidationError": protocol.ValidationErrorBody,
    "CommandError": protocol.CommandErrorBody,
    "Status": protocol.Status,
    "Event": protocol.Event,
    "Token": protocol.Token,
    "Health": protocol.Health,
    "CommandDescription": protocol.CommandDescription,
    "GenusListing": protocol.GenusListing,
    "AgentsListing": protocol.AgentsListing,
    "EventsPage": protocol.EventsPage,
    "PerturbBody": protocol.RestPerturbBody,
    "PerturbResult": protocol.RestPerturbResult,
    "PerturbAccepted": protocol.RestPerturbAccepted,
    "PendingListing": protocol.PendingListing,
    "TokenReply": protocol.TokenReply,
    "Pipeline": protocol.Pipeline,
    "PipelinesListing": protocol.PipelinesListing,
    "ResolveBody": protocol.ResolveBody,
}


def _described(shape: Any, schema: JSONSchema) -> JSONSchema:
    """Copy each field's ``protocol.Doc`` into its property's description."""
    properties = schema.get("properties", {})
    for name, hint in get_type_hints(shape, include_extras=True).items():
        while get_origin(hint) in (NotRequired, Required):
            hint = get_args(hint)[0]
        docs = [item for item in getattr(hint, "__metadata__", ()) if isinstance(item, Doc)]
        if docs and name in properties:
            properties[name]["description"] = docs[0].text
    return schema


def protocol_components() -> dict[str, JSONSchema]:
    """The component schemas, generated from ``terrarium.protocol`` by pydantic."""
    components: dict[str, JSONSchema] = {}
    for name, shape in SHAPES.items():
        schema = TypeAdapter(shape).json_schema(ref_template=SCHEMAS + "{model}")
        for nested, definition in schema.pop("$defs", {}).items():
            nested_shape = getattr(protocol, nested)
            components.setdefault(nested, _described(nested_shape, definition))
        components[name] = _described(shape, schema)
    return components


#: Built once per process: the protocol does not change while it runs.
COMPONENTS: dict[str, JSONSchema] = protocol_components()


def _json(schema: JSONSchema, description: str) -> JSONSchema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str, name: str = "Error") -> JSONSchema:
    return _json(_ref(name), description)


def _path_parameter(name: str, description: str) -> JSONSchema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": NAME_PATTERN},
    }


AGENT_ID = _path_parameter("agent_id", "the agent's id")
TOKEN_ID = _path_parameter("token_id", "the semaphore token's id")
PIPELINE_ID = _path_parameter("pipeline_id", "the pipeline's id")
GENUS = _path_parameter("genus", "a registered genus (not agents, purgatory, health, pipelines)")
GENUS["schema"]["not"] = {"enum": sorted(RESERVED_GENERA)}
COMMAND = _path_parameter("command", "a command of the genus, or one of its aliases")

WRITE_SECURITY: list[dict[str, list[str]]] = [{"token": []}, {"tokenQuery": []}]

SECURITY_SCHEMES = {
    "token": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "'token <TOKEN>' with the Jupyter server's token. A browser "
        "session's login cookie works too, with the X-XSRFToken header on writes.",
    },
    "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
}


class _Builder:
    """Collects paths and component schemas for one document."""

    def __init__(self, public_observe: bool) -> None:
        self.read_security: list[dict[str, list[str]]] = [] if public_observe else WRITE_SECURITY
        self.paths: dict[str, JSONSchema] = {}
        self.schemas: dict[str, JSONSchema] = dict(COMPONENTS)

    def read(
        self, path: str, operation_id: str, summary: str, ok: JSONSchema, **extra: Any
    ) -> None:
        responses = {"200": ok, "403": _error("not authorized to read terrarium")}
        responses.update(extra.pop("responses", {}))
        self._add(path, "get", operation_id, summary, responses, self.read_security, **extra)

    def write(
        self,
        path: str,
        operation_id: str,
        summary: str,
        body: JSONSchema | None,
        responses: dict[str, JSONSchema],
        examples: list[JSONSchema] | None = None,
        **extra: Any,
    ) -> None:
        responses = {**responses, "403": _error("no token or login, or no 'execute'")}
        if body is not None:
            responses["413"] = _error("too_large: the body is over max_message_size")
        if body is not None:
            media: JSONSchema = {"schema": body}
            if examples:
                media["examples"] = {
                    f"example{index}": {"value": value} for index, value in enumerate(examples, 1)
                }
            extra["requestBody"] = {"required": True, "content": {"application/json": media}}
        self._add(path, "post", operation_id, summary, responses, WRITE_SECURITY, **extra)

    def _add(
        self,
        path: str,
        method: str,
        operation_id: str,
        summary: str,
        responses: dict[str, JSONSchema],
        security: list[dict[str, list[str]]],
        **extra: Any,
    ) -> None:
        operation = {
            "operationId": operation_id,
            "summary": summary,
            "security": security,
            **extra,
            "responses": responses,
        }
        self.paths.setdefault(path, {})[method] = operation

    def hoist(self, schema: JSONSchema, prefix: str) -> JSONSchema:
        """Move ``$defs`` to the components (its refs already point there via the prefix)."""
        rest = dict(schema)
        for name, definition in rest.pop("$defs", {}).items():
            self.schemas[prefix + name] = definition
        return rest


def _fixed_routes(builder: _Builder) -> None:
    agent_missing = {"404": _error("unknown agent")}
    builder.read(
        "/agents",
        "listAgents",
        "Every agent's status",
        _json(_ref("AgentsListing"), "agents"),
    )
    builder.read(
        "/agents/{agent_id}",
        "getAgent",
        "One agent's status",
        _json(_ref("Status"), "the agent's STATUS"),
        parameters=[AGENT_ID],
        responses=agent_missing,
    )
    builder.read(
        "/agents/{agent_id}/events",
        "agentEvents",
        "Kept history after a seq",
        _json(
            _ref("EventsPage"),
            "events, the range no longer kept (or null), and their epoch; 'reset' when "
            "'since' was of another epoch and the events start from what is kept",
        ),
        parameters=[
            AGENT_ID,
            _query("since", "events with a seq above this", 0, MAX_SEQ),
            _query("limit", "at most this many events", 1, MAX_LIMIT),
            {
                "name": "epoch",
                "in": "query",
                "required": False,
                "description": "the epoch 'since' belongs to; another one starts over",
                "schema": {"type": "string"},
            },
        ],
        responses={"400": _error("bad since or limit"), **agent_missing},
    )
    builder.write(
        "/agents/{agent_id}/perturb",
        "perturbAgent",
        "Perturb an agent and wait for its output",
        _ref("PerturbBody"),
        {
            "200": _json(_ref("PerturbResult"), "the agent's output"),
            "202": _json(
                _ref("PerturbAccepted"), "the agent asked a human: a semaphore token was ejected"
            ),
            "400": _error("bad_request"),
            **agent_missing,
            "429": _error("queue_full or rate_limited"),
            "500": _error("agent_error"),
            "503": _error("agent_unavailable"),
            "504": _error("timeout"),
        },
        parameters=[AGENT_ID],
    )
    builder.read("/health", "health", "Liveness and agent count", _json(_ref("Health"), "health"))
    builder.read(
        "/pipelines",
        "listPipelines",
        "Every pipeline this gateway runs: stages, edges and live edge figures",
        _json(_ref("PipelinesListing"), "pipelines"),
    )
    builder.read(
        "/pipelines/{pipeline_id}",
        "getPipeline",
        "One pipeline's graph with live edge figures",
        _json(_ref("Pipeline"), "the pipeline"),
        parameters=[PIPELINE_ID],
        responses={"404": _error("unknown_pipeline")},
    )
    builder.read(
        "/openapi.json",
        "openapi",
        "This document",
        _json({"type": "object"}, "the OpenAPI 3.1 document"),
    )
    _purgatory_routes(builder)


def _query(name: str, description: str, minimum: int, maximum: int) -> JSONSchema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "integer", "minimum": minimum, "maximum": maximum},
    }


def _purgatory_routes(builder: _Builder) -> None:
    missing = {"404": _error("unknown agent or token")}
    not_pending = {"409": _error("the token is not pending")}
    builder.read(
        "/purgatory/{agent_id}/pending",
        "pendingTokens",
        "Semaphore tokens waiting for a human",
        _json(_ref("PendingListing"), "pending"),
        parameters=[AGENT_ID],
        responses=missing,
    )
    builder.read(
        "/purgatory/{agent_id}/{token_id}",
        "getToken",
        "One semaphore token",
        _json(_ref("Token"), "the token"),
        parameters=[AGENT_ID, TOKEN_ID],
        responses=missing,
    )
    resolved = _json(
        _ref("TokenReply"),
        "the token: 'resuming' once an answer is recorded (its resume runs next), "
        "'cancelled' once cancelled",
    )
    builder.write(
        "/purgatory/{agent_id}/resolve/{token_id}",
        "resolveToken",
        "Answer a semaphore: the agent resumes with the human input",
        _ref("ResolveBody"),
        {
            "200": resolved,
            "400": _error("bad body"),
            **missing,
            **not_pending,
            "503": _error("agent_unavailable: the agent is stopped"),
        },
        parameters=[AGENT_ID, TOKEN_ID],
    )
    builder.write(
        "/purgatory/{agent_id}/cancel/{token_id}",
        "cancelToken",
        "Cancel a semaphore",
        None,
        {**{"200": resolved}, **missing, **not_pending, "503": _error("agent_unavailable")},
        parameters=[AGENT_ID, TOKEN_ID],
    )


def _generic_prism_routes(builder: _Builder) -> None:
    builder.read(
        "/{genus}",
        "listGenus",
        "A genus' commands with their JSON Schemas",
        _json(_ref("GenusListing"), "the genus"),
        parameters=[GENUS],
        responses={"404": _error("unknown genus")},
    )
    builder.write(
        "/{genus}/{command}",
        "callCommand",
        "Call a command: the body is its keyword arguments",
        {"type": "object"},
        _command_responses({}),
        parameters=[GENUS, COMMAND],
    )


def _command_responses(result: JSONSchema) -> dict[str, JSONSchema]:
    return {
        "200": _json(_object(["result"], result=result), "the command's result"),
        "400": _error("the body does not fit the arguments", "ValidationError"),
        "404": _error("unknown genus or command"),
        "500": _error("the command raised", "CommandError"),
    }


def _genus_routes(builder: _Builder, genus: Genus) -> None:
    builder.read(
        f"/{genus.name}",
        f"{genus.name}.list",
        genus.description or f"The commands of {genus.name}",
        _json(_ref("GenusListing"), "the genus"),
    )
    for command in genus.visible():
        _command_route(builder, genus, command)


def _command_route(builder: _Builder, genus: Genus, command: Command) -> None:
    key = f"{genus.name}.{command.name}"
    signature = command.signature
    arguments = builder.hoist(
        signature.arguments_schema(SCHEMAS + key + ".arguments.{model}"), key + ".arguments."
    )
    result = builder.hoist(
        signature.result_schema(SCHEMAS + key + ".result.{model}"), key + ".result."
    )
    extra: dict[str, Any] = {}
    if command.help:
        extra["description"] = command.help
    builder.write(
        f"/{genus.name}/{command.name}",
        key,
        _summary(command),
        arguments,
        _command_responses(result),
        examples=[dict(example) for example in command.examples],
        **extra,
    )


def _summary(command: Command) -> str:
    first = command.help.strip().split("\n", 1)[0] if command.help else ""
    return first or command.name


def openapi_document(
    prism: Prism, *, version: str, base_url: str = "/", public_observe: bool = True
) -> JSONSchema:
    """The whole document, as served at ``{base}terrarium/api/openapi.json``."""
    builder = _Builder(public_observe)
    _fixed_routes(builder)
    _generic_prism_routes(builder)
    for genus in prism:
        _genus_routes(builder, genus)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Terrarium",
            "version": version,
            "description": "Watch and steer live agents: the REST routes of PROTOCOL.md "
            "section 4, with every registered genus' commands.",
        },
        "servers": [{"url": base_url.rstrip("/") + "/terrarium/api"}],
        "paths": builder.paths,
        "components": {"schemas": builder.schemas, "securitySchemes": SECURITY_SCHEMES},
    }
