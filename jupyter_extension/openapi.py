"""The OpenAPI 3.1 document of Terrarium's REST routes (PROTOCOL.md section 4).

The fixed routes are written out here once; every registered genus adds its
listing and one path per visible command, with the request and response
schemas pydantic generated for it (JSON Schema 2020-12, which OpenAPI 3.1
takes as it is). Each command's ``$defs`` move to ``components/schemas``
under a prefix of their own, so two commands may use types of the same name.
"""

from __future__ import annotations

from typing import Any

from jupyter_extension.handlers.base import MAX_LIMIT, MAX_SEQ
from terrarium.names import NAME_PATTERN
from terrarium.prism import RESERVED_GENERA, Command, Genus, Prism

JSONSchema = dict[str, Any]

SCHEMAS = "#/components/schemas/"


def _ref(name: str) -> JSONSchema:
    return {"$ref": SCHEMAS + name}


def _object(required: list[str], **properties: JSONSchema) -> JSONSchema:
    return {"type": "object", "required": required, "properties": properties}


_ERROR_PROPERTIES: dict[str, JSONSchema] = {
    "error": {"type": "string", "description": "machine-readable code"},
    "message": {"type": "string"},
}

EPOCH: JSONSchema = {
    "type": "string",
    "description": "names the agent's numbering of seqs: new whenever seqs start afresh",
}

#: The protocol's fixed shapes (section 1 and 4), referenced by the routes below.
COMPONENTS: dict[str, JSONSchema] = {
    "Error": _object(["error", "message"], **_ERROR_PROPERTIES),
    "ValidationError": _object(
        ["error", "message", "details"],
        **_ERROR_PROPERTIES,
        details={
            "type": "array",
            "description": "every error, located by its path into the body",
            "items": _object(
                ["loc", "msg", "type"],
                loc={"type": "array", "items": {"type": ["string", "integer"]}},
                msg={"type": "string"},
                type={"type": "string"},
            ),
        },
    ),
    "CommandError": _object(
        ["error", "error_type", "message"],
        error={"const": "command_error"},
        error_type={"type": "string", "description": "class of the exception the command raised"},
        message={"type": "string"},
    ),
    "Status": _object(
        [
            "id",
            "genus",
            "state",
            "seq",
            "observers",
            "events",
            "pressure",
            "flow",
            "temperature",
            "turbulence",
            "queue_depth",
            "pending_semaphores",
            "commands",
            "epoch",
        ],
        id={"type": "string"},
        genus={"type": ["string", "null"]},
        state={
            "enum": ["dormant", "flowing", "perturbed", "draining", "stopped", "collapsed"],
        },
        seq={"type": "integer", "minimum": 0},
        observers={"type": "integer", "minimum": 0},
        events={"type": "integer", "minimum": 0},
        pressure={"type": "number", "minimum": 0, "maximum": 100},
        flow={"type": "number", "minimum": 0},
        temperature={"type": "number", "minimum": 0, "maximum": 1},
        turbulence={"type": "number", "minimum": 0, "maximum": 1},
        queue_depth={"type": "integer", "minimum": 0},
        pending_semaphores={"type": "integer", "minimum": 0},
        commands={"type": "array", "items": {"type": "string"}},
        epoch=EPOCH,
        owner={
            "type": "string",
            "description": "Distributed mode only (TerrariumApp.redis_url): the replica "
            "that runs the agent.",
        },
        available={
            "type": "boolean",
            "description": "Distributed mode only: false once the owner's heartbeat "
            "expired (the state then reads 'stopped').",
        },
    ),
    "Event": _object(
        ["seq", "ts", "agent_id", "type", "data"],
        seq={"type": "integer", "minimum": 1},
        ts={"type": "number"},
        agent_id={"type": "string"},
        type={"type": "string"},
        data={"type": "object"},
    ),
    "Token": _object(
        ["id", "agent_id", "reason", "prompt", "options", "severity", "created_at", "status"],
        id={"type": "string"},
        agent_id={"type": "string"},
        reason={"type": "string"},
        prompt={"type": "string"},
        options={"type": "array", "items": {"type": "string"}},
        severity={"enum": ["info", "warning", "critical"]},
        created_at={"type": "string", "format": "date-time"},
        deadline={"type": ["string", "null"], "format": "date-time"},
        status={"enum": ["pending", "resuming", "resolved", "cancelled", "voided"]},
    ),
    "Health": _object(
        ["status", "agents", "version"],
        status={"const": "ok"},
        agents={"type": "integer", "minimum": 0},
        version={"type": "string"},
    ),
    "CommandDescription": _object(
        ["name", "help", "aliases", "examples", "arguments", "result"],
        name={"type": "string"},
        help={"type": "string"},
        aliases={"type": "array", "items": {"type": "string"}},
        examples={"type": "array", "items": {"type": "object"}},
        arguments={"type": "object", "description": "JSON Schema of the keyword arguments"},
        result={"type": "object", "description": "JSON Schema of the result"},
    ),
    "GenusListing": _object(
        ["genus", "description", "commands"],
        genus={"type": "string"},
        description={"type": "string"},
        commands={"type": "array", "items": _ref("CommandDescription")},
    ),
}


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
GENUS = _path_parameter("genus", "a registered genus (not agents, purgatory, health)")
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
        _json(_object(["agents"], agents={"type": "array", "items": _ref("Status")}), "agents"),
    )
    builder.read(
        "/agents/{agent_id}",
        "getAgent",
        "One agent's status",
        _json(_ref("Status"), "the agent's STATUS"),
        parameters=[AGENT_ID],
        responses=agent_missing,
    )
    gap = {
        "oneOf": [
            {"type": "null"},
            _object(["from", "to"], **{"from": {"type": "integer"}, "to": {"type": "integer"}}),
        ]
    }
    builder.read(
        "/agents/{agent_id}/events",
        "agentEvents",
        "Kept history after a seq",
        _json(
            _object(
                ["events", "gap", "epoch"],
                events={"type": "array", "items": _ref("Event")},
                gap=gap,
                epoch=EPOCH,
                reset={
                    "const": True,
                    "description": "present when 'since' was of another epoch: the events "
                    "start from the beginning of what is kept",
                },
            ),
            "events, the range no longer kept (or null), and their epoch",
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
    perturb_body = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"description": "any JSON value, handed to the agent"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 199, "default": 100},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 86400},
        },
    }
    builder.write(
        "/agents/{agent_id}/perturb",
        "perturbAgent",
        "Perturb an agent and wait for its output",
        perturb_body,
        {
            "200": _json(
                _object(["perturbation_id", "output"], perturbation_id={"type": "string"}),
                "the agent's output",
            ),
            "202": _json(
                _object(
                    ["perturbation_id", "token"],
                    perturbation_id={"type": "string"},
                    token=_ref("Token"),
                ),
                "the agent asked a human: a semaphore token was ejected",
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
        _json(_object(["pending"], pending={"type": "array", "items": _ref("Token")}), "pending"),
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
        _object(["token"], token=_ref("Token")),
        "the token: 'resuming' once an answer is recorded (its resume runs next), "
        "'cancelled' once cancelled",
    )
    builder.write(
        "/purgatory/{agent_id}/resolve/{token_id}",
        "resolveToken",
        "Answer a semaphore: the agent resumes with the human input",
        _object(["human_input"], human_input={"description": "any JSON value"}),
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
