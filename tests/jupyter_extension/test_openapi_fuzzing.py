"""Schemathesis against ``api/openapi.json`` of a live ``jupyter terrarium``.

A child server (``tests.launcher.TerrariumProcess``: the demo agents echo,
heartbeat, slow and approver, the ``grammar`` genus, and ``ledger`` and
``brittle`` from ``tests/fault_agents.py``) is started once for the module. Its
OpenAPI document is loaded with ``schemathesis.openapi.from_url`` and every
operation in it is fuzzed twice: with the server's token (the
``Authorization`` header, no generated security parameters) and without it
(schemathesis then makes up its own, never valid, ``Authorization`` header and
``token`` query). Each operation gets schema-valid and schema-invalid cases
(``GenerationMode.POSITIVE`` and ``NEGATIVE``) and the document's own examples.
Every response must pass:

- ``no_server_fault``: no 5xx, except the protocol's own refusals where the
  operation documents them: 500 ``agent_error`` (an agent refuses input it
  cannot take by raising: slow and approver do so on purpose), 503
  ``agent_unavailable``, 504 ``timeout`` (PROTOCOL.md section 4). Anything
  else, ``internal_error`` and ``command_error`` included, fails as
  schemathesis' ``not_a_server_error``;
- ``status_code_conformance``, ``content_type_conformance`` and
  ``response_schema_conformance``: the status is documented for the operation,
  the body is JSON and matches its schema;
- without the token, every operation that requires security is refused (403).

Where the fuzzing steers (nothing is left out; these only make cases reach
further):

- path parameters are, half the time, swapped for names the server knows (its
  agents, ``grammar``/``parse``, and tokens ejected by approver and ledger
  before the fuzzing starts), so cases get past 404 and resolve/cancel reach
  200 and 409;
- ``POST /agents/slow/perturb`` would make the server sleep up to 60 s per case
  (``slow`` sleeps ``data["seconds"]`` or ``data`` seconds): its ``timeout`` is
  capped at 0.25 s (a missing or larger one is set to 0.25), so such cases are
  answered 504 ``timeout`` or their result within that bound; the HTTP client
  gives every request 30 s;
- a generated URL that names another documented route (``GET /{genus}`` with
  ``genus=health``, ``GET /purgatory/{agent_id}/{token_id}`` with
  ``token_id=pending``) is, by OpenAPI's rule that concrete paths match first,
  a request to that route, and its response is checked against that route's
  operation. ``POST /{genus}/{command}`` with ``genus=agents`` reaches
  ``/agents/{agent_id}``, which has no POST: such a case is one the document
  refuses (reserved names), and its 405 is only checked for being no 5xx.

What the fuzzing found, each fixed and kept as a regression test below: a body
over ``max_message_size`` got a 413 no operation documented; the document
admitted perturbation timeouts of a day or more, which the server refuses; the
server refused ``priority: 100.0``, an integer in JSON Schema; the ``genus``
parameter admitted the reserved names; resolving a token of a stopped or
collapsed agent answered an undocumented 503; and ``POST /grammar/parse``
answered 500 for a text such as ``"²"`` (``str.isdigit`` took it for a number,
``int()`` did not).

The default run is short (``EXAMPLES`` generated cases per operation and mode,
derandomized so CI sees the same cases every time). A longer, random run::

    TERRARIUM_FUZZ_EXAMPLES=500 uv run pytest tests/jupyter_extension/test_openapi_fuzzing.py

(Schemathesis' own lazy ``from_fixture`` loader cannot be used here: with
pytest 9.2 it fails on ``request.node._nodeid``. The cases come from the
documented ``APIOperation.as_strategy`` under Hypothesis' ``@given`` instead,
one pytest test per operation and mode.)
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fault_agents import COLLAPSE
from tests.launcher import TOKEN, TerrariumProcess

ROOT = Path(__file__).resolve().parents[2]
#: Generated cases per operation and mode; the environment variable asks for a longer run.
EXAMPLES = int(os.environ.get("TERRARIUM_FUZZ_EXAMPLES", "40"))
#: The default run is the same every time; a run that asks for its own count explores.
DERANDOMIZE = "TERRARIUM_FUZZ_EXAMPLES" not in os.environ
#: The HTTP client's bound on one request (no case comes near it; it only prevents a hang).
REQUEST_TIMEOUT = 30.0
#: The ``timeout`` every perturbation of ``slow`` is given at most, in seconds.
SLOW_TIMEOUT = 0.25
MAX_MESSAGE_SIZE = 1024 * 1024
AUTH = {"Authorization": f"token {TOKEN}"}

#: Every operation the live document must list: a route added to it without being
#: added here fails ``test_the_document_lists_exactly_the_fuzzed_operations``.
OPERATIONS = [
    "GET /agents",
    "GET /agents/{agent_id}",
    "GET /agents/{agent_id}/events",
    "POST /agents/{agent_id}/perturb",
    "GET /health",
    "GET /pipelines",
    "GET /pipelines/{pipeline_id}",
    "GET /openapi.json",
    "GET /purgatory/{agent_id}/pending",
    "GET /purgatory/{agent_id}/{token_id}",
    "POST /purgatory/{agent_id}/resolve/{token_id}",
    "POST /purgatory/{agent_id}/cancel/{token_id}",
    "GET /{genus}",
    "POST /{genus}/{command}",
    "GET /grammar",
    "POST /grammar/parse",
]
AGENTS = ["echo", "heartbeat", "slow", "approver", "ledger", "brittle"]
#: The protocol's refusals that are 5xx by design (PROTOCOL.md section 4), by status:
#: an agent refuses what it cannot take by raising (slow and approver do, on purpose).
#: A command that raises (500 ``command_error``) is not among them: the one command
#: here, ``grammar/parse``, parses any text.
PROTOCOL_REFUSALS = {
    500: {"agent_error"},
    503: {"agent_unavailable"},
    504: {"timeout"},
}


class FuzzServer(TerrariumProcess):
    """A child server that can import ``tests.fault_agents``."""

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env


def _request(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(AUTH))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=REQUEST_TIMEOUT) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    home = tmp_path_factory.mktemp("fuzz")
    process = FuzzServer(
        home,
        [
            f"--TerrariumApp.purgatory_path={home / 'purgatory.sqlite'}",
            "--TerrariumApp.agents=tests.fault_agents:make_fault_agents",
            "--TerrariumApp.load_entry_points=False",
        ],
    )
    with process:
        process.wait_healthy()
        yield process


@pytest.fixture(scope="module")
def api(server: FuzzServer) -> str:
    return f"{server.url}/terrarium/api"


def _eject_tokens(api: str, count: int = 6) -> list[tuple[str, str]]:
    """Pending tokens of approver and ledger: (agent id, token id)."""
    found = []
    for index in range(count):
        for agent, data in (("approver", {"records": 47}), ("ledger", {"key": f"fuzz-{index}"})):
            status, body = _request("POST", f"{api}/agents/{agent}/perturb", {"data": data})
            assert status == 202, body
            found.append((agent, body["token"]["id"]))
    return found


@pytest.fixture(scope="module")
def tokens(api: str) -> list[tuple[str, str]]:
    """The pending tokens the fuzzer draws from (refilled per operation that takes one)."""
    return _eject_tokens(api)


def _load_schema(api: str, tokens: list[tuple[str, str]], *, auth: bool) -> Any:
    data: dict[str, Any] = {"request-timeout": REQUEST_TIMEOUT}
    if auth:
        data["headers"] = dict(AUTH)
        data["generation"] = {"with-security-parameters": False}
    schema = schemathesis.openapi.from_url(
        f"{api}/openapi.json", config=schemathesis.Config.from_dict(data)
    )
    schema.hook(_known_names(tokens))
    return schema


def _known_names(tokens: list[tuple[str, str]]) -> Callable[[Any, Any], Any]:
    """A hook that, half the time, swaps path parameters for names the server knows."""
    names = {"agent_id": AGENTS, "genus": ["grammar"], "command": ["parse"]}

    def swap(parameters: Any) -> st.SearchStrategy[Any]:
        if not isinstance(parameters, dict):
            return st.just(parameters)
        fixed: dict[str, st.SearchStrategy[Any]] = {
            name: st.sampled_from(names[name]) if name in names else st.just(value)
            for name, value in parameters.items()
        }
        if "token_id" in parameters:
            pair = st.sampled_from(tokens)
            return st.tuples(pair, st.fixed_dictionaries(fixed)).map(
                lambda drawn: {**drawn[1], "agent_id": drawn[0][0], "token_id": drawn[0][1]}
            )
        return st.fixed_dictionaries(fixed)

    def before_generate_path_parameters(context: Any, strategy: Any) -> Any:
        return st.one_of(strategy, strategy.flatmap(swap))

    return before_generate_path_parameters


@pytest.fixture(scope="module")
def schemas(api: str, tokens: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "token": _load_schema(api, tokens, auth=True),
        "anonymous": _load_schema(api, tokens, auth=False),
    }


# -- checks -----------------------------------------------------------------------------


def _error_body(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def no_server_fault(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx but the protocol's documented refusals, each with its own code."""
    status = response.status_code
    documented = str(status) in case.operation.definition.raw["responses"]
    if documented and _error_body(response).get("error") in PROTOCOL_REFUSALS.get(status, ()):
        return None
    result: bool | None = not_a_server_error(ctx, response, case)
    return result


def refused_without_the_token(ctx: Any, response: Any, case: Any) -> bool | None:
    """Without the token, an operation that requires security is answered 403."""
    if case.operation.definition.raw.get("security"):
        assert response.status_code == 403, (
            f"{case.operation.label} answered {response.status_code} without the token"
        )
    return None


CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


# -- which documented route a URL reaches ---------------------------------------------------


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


def _resolve(document: dict[str, Any], path: str) -> tuple[str, dict[str, str]] | None:
    """The documented path template ``path`` matches, concrete segments first, and its
    parameters (as sent, percent-encoded); None if none matches."""
    sent = _segments(path)
    matches = []
    for template in document["paths"]:
        parts = _segments(template)
        if len(parts) != len(sent):
            continue
        literal = [not (part.startswith("{") and part.endswith("}")) for part in parts]
        if all(
            not fixed or part == value
            for part, value, fixed in zip(parts, sent, literal, strict=True)
        ):
            rank = tuple(0 if fixed else 1 for fixed in literal)
            parameters = {
                part[1:-1]: value
                for part, value, fixed in zip(parts, sent, literal, strict=True)
                if not fixed
            }
            matches.append((rank, template, parameters))
    if not matches:
        return None
    _, template, parameters = min(matches)
    return template, parameters


def _sent_path(response: Any, prefix: str) -> str:
    path = str(response.request.path_url).split("?", 1)[0]
    assert path.startswith(prefix), (path, prefix)
    return path[len(prefix) :] or "/"


# -- the document and the fuzzing ----------------------------------------------------------------


def test_the_document_lists_exactly_the_fuzzed_operations(schemas: dict[str, Any]) -> None:
    document = schemas["token"].raw_schema
    listed = sorted(
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    )
    assert listed == sorted(OPERATIONS)


@pytest.mark.timeout(max(120, EXAMPLES))
@pytest.mark.parametrize("mode", ["token", "anonymous"])
@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz(
    schemas: dict[str, Any],
    server: FuzzServer,
    api: str,
    tokens: list[tuple[str, str]],
    label: str,
    mode: str,
) -> None:
    schema = schemas[mode]
    document = schema.raw_schema
    prefix = document["servers"][0]["url"]
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    strategies.extend(operation.get_strategies_from_examples())
    session = requests.Session()
    # Every case stands alone: no cookie a server set carries over to the next request.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    checks = [no_server_fault, *CONFORMANCE]
    if mode == "anonymous":
        checks.append(refused_without_the_token)
    if "{token_id}" in path:
        # Fresh pending tokens for this operation: the ones an earlier operation
        # settled would only ever get 409 here.
        tokens[:] = _eject_tokens(api)
    statuses: list[int] = []
    elsewhere: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=DERANDOMIZE,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def fuzz(case: Any) -> None:
        _bound_slow(case)
        # The token goes on every case of the token run, the document's examples included.
        headers = dict(AUTH) if mode == "token" else None
        response = case.call(session=session, base_url=f"{server.url}{prefix}", headers=headers)
        statuses.append(response.status_code)
        resolved = _resolve(document, _sent_path(response, prefix))
        target = operation
        if resolved is not None and resolved[0] != operation.path:
            template, parameters = resolved
            try:
                target = schema[template][method]
            except LookupError:
                # A reserved genus name (which the document refuses) reached a fixed route
                # without this method: a 405, checked only for being no server fault.
                elsewhere.append(f"{method} {template}: {response.status_code}")
                case.validate_response(response, checks=[no_server_fault])
                return
            case = target.Case(
                path_parameters=parameters,
                query=case.query,
                headers=case.headers,
                body=case.body,
                media_type=case.media_type,
            )
        case.validate_response(response, checks=checks)

    try:
        fuzz()
    finally:
        session.close()
    assert statuses, "no case was sent"
    print(f"{label} [{mode}]: {len(statuses)} cases, statuses {sorted(set(statuses))}")
    if elsewhere:
        print(f"  reached a route without {method}: {sorted(set(elsewhere))}")


def _bound_slow(case: Any) -> None:
    """Cap the perturbation timeout of ``slow`` (see the module docstring)."""
    if case.path_parameters is None or case.path_parameters.get("agent_id") != "slow":
        return
    if case.operation.path != "/agents/{agent_id}/perturb" or not isinstance(case.body, dict):
        return
    timeout = case.body.get("timeout")
    number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
    if timeout is None or (number and timeout > SLOW_TIMEOUT):
        case.body["timeout"] = SLOW_TIMEOUT


# -- disagreements between the server and its document ---------------------------------------------


def _call(schema: Any, label: str, **parts: Any) -> tuple[Any, Any]:
    method, path = label.split(" ", 1)
    case = schema[path][method].Case(headers=dict(AUTH), **parts)
    return case, case.call()


def _request_body_schema(schema: Any, label: str) -> dict[str, Any]:
    method, path = label.split(" ", 1)
    body: dict[str, Any] = schema[path][method].definition.raw["requestBody"]["content"][
        "application/json"
    ]["schema"]
    # Bodies refer to the document's components: validate with them in scope.
    return {**body, "components": schema.raw_schema["components"]}


def _documented(schema: Any, label: str) -> set[str]:
    method, path = label.split(" ", 1)
    return set(schema[path][method].definition.raw["responses"])


OVERSIZED = {
    "POST /agents/{agent_id}/perturb": ({"agent_id": "echo"}, "data"),
    "POST /purgatory/{agent_id}/resolve/{token_id}": (
        {"agent_id": "ledger", "token_id": "0" * 32},
        "human_input",
    ),
    "POST /{genus}/{command}": ({"genus": "grammar", "command": "parse"}, "text"),
    "POST /grammar/parse": ({}, "text"),
}


@pytest.mark.parametrize("label", list(OVERSIZED))
def test_an_oversized_body_is_answered_with_a_documented_status(
    schemas: dict[str, Any], label: str
) -> None:
    schema = schemas["token"]
    parameters, field = OVERSIZED[label]
    body = {field: "x" * MAX_MESSAGE_SIZE}
    _, response = _call(schema, label, path_parameters=parameters, body=body)
    assert str(response.status_code) in _documented(schema, label), response.text[:200]


def test_a_timeout_the_document_admits_is_accepted(schemas: dict[str, Any]) -> None:
    schema = schemas["token"]
    label = "POST /agents/{agent_id}/perturb"
    body = {"data": "a day", "timeout": 86400}
    admitted = jsonschema.Draft202012Validator(_request_body_schema(schema, label))
    if admitted.is_valid(body):
        case, response = _call(schema, label, path_parameters={"agent_id": "echo"}, body=body)
        assert response.status_code == 200, response.text
        case.validate_response(response, checks=CONFORMANCE)


def test_an_integral_priority_the_document_admits_is_accepted(schemas: dict[str, Any]) -> None:
    schema = schemas["token"]
    label = "POST /agents/{agent_id}/perturb"
    body = {"data": "integral", "priority": 100.0}
    admitted = jsonschema.Draft202012Validator(_request_body_schema(schema, label))
    assert admitted.is_valid(body)
    case, response = _call(schema, label, path_parameters={"agent_id": "echo"}, body=body)
    assert response.status_code == 200, response.text
    case.validate_response(response, checks=CONFORMANCE)


def test_reserved_genus_names_are_not_admitted_as_genus(schemas: dict[str, Any]) -> None:
    schema = schemas["token"]
    label = "POST /{genus}/{command}"
    (genus,) = [
        parameter
        for parameter in schema["/{genus}/{command}"]["POST"].definition.raw["parameters"]
        if parameter["name"] == "genus"
    ]
    admitted = jsonschema.Draft202012Validator(genus["schema"])
    for name in ("agents", "purgatory", "health", "openapi.json"):
        if admitted.is_valid(name):
            _, response = _call(
                schema, label, path_parameters={"genus": name, "command": "echo"}, body={}
            )
            assert str(response.status_code) in _documented(schema, label), (
                f"POST /{name}/echo answered {response.status_code}: {response.text[:200]}"
            )


def test_resolving_a_token_of_a_collapsed_agent_gets_a_documented_status(
    schemas: dict[str, Any], api: str
) -> None:
    schema = schemas["token"]
    status, body = _request("POST", f"{api}/agents/brittle/perturb", {"data": {"key": "last"}})
    assert status == 202, body
    token = body["token"]["id"]
    status, body = _request("POST", f"{api}/agents/brittle/perturb", {"data": COLLAPSE})
    assert status == 200, body
    _wait_for_state(api, "brittle", "collapsed")
    label = "POST /purgatory/{agent_id}/resolve/{token_id}"
    case, response = _call(
        schema,
        label,
        path_parameters={"agent_id": "brittle", "token_id": token},
        body={"human_input": "yes"},
    )
    case.validate_response(response, checks=[no_server_fault, *CONFORMANCE])


def _wait_for_state(api: str, agent: str, state: str, within: float = 10.0) -> None:
    give_up = time.monotonic() + within
    while True:
        _, status = _request("GET", f"{api}/agents/{agent}")
        if status["state"] == state:
            return
        assert time.monotonic() < give_up, f"{agent} is still {status['state']}"
        time.sleep(0.05)


def test_the_parser_takes_every_text(schemas: dict[str, Any]) -> None:
    schema = schemas["token"]
    case, response = _call(schema, "POST /grammar/parse", body={"text": "Create ² calendars"})
    case.validate_response(response, checks=[no_server_fault, *CONFORMANCE])
    assert response.status_code == 200
