"""A client of a running Terrarium server: where it is, its REST routes and its sockets.

It finds the server the way a user expects: ``--url``/``--token``, then the
``TERRARIUM_URL``/``TERRARIUM_TOKEN`` (or ``JUPYTER_TOKEN``) environment, then
the ``jpserver-*.json`` files every Jupyter server writes into the runtime
directory: in a kernel, the one whose ``pid`` is the kernel's
``JPY_PARENT_PID`` (the server that runs it), else the newest. REST goes
through ``urllib`` (plain blocking calls, so they work the same in a script
and in a kernel cell) and the WebSockets through the ``websockets`` package
(async), so the core never needs Tornado or jupyter_server.

A URL may be given as the server prints it (``http://host:8888/lab?token=...``,
``.../terrarium/?token=...``, a notebook's ``.../lab/tree/x.ipynb?token=...``):
``server_url()`` takes the token from its query and the base URL from its
path, so a person can paste what they see.

``connect()`` is the notebook's entry point: ``terrarium.connect()``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from terrarium.client.history import EventHistory

if TYPE_CHECKING:
    from terrarium.client.publish import PipelinePublication, Publication
    from terrarium.flux import FluxAgent
    from terrarium.pipeline import Pipeline

#: Seconds to wait for a REST answer or a WebSocket handshake.
DEFAULT_TIMEOUT = 60.0


class ClientError(Exception):
    """Base of everything the client reports; ``str()`` is meant for a person."""


class Unreachable(ClientError):
    """No server answered at the URL (or none could be found at all)."""


class BadURL(ClientError, ValueError):
    """A server URL that cannot be one: no host, a scheme other than http(s), a bad port."""


class ServerError(ClientError):
    """The server answered with an error: its status and the protocol's error body."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        self.body = dict(body)
        self.code = str(body.get("error", "error"))
        super().__init__(str(body.get("message", f"HTTP {status}")))


class PerturbationFailed(ClientError):
    """The Beam refused or failed a perturbation; ``code`` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class Server:
    """Where a Terrarium server is, how to authenticate, and where that was learnt."""

    url: str
    token: str | None = None
    source: str = "option"

    def endpoint(self, *parts: str, **query: Any) -> str:
        path = "/".join(quote(part, safe="") for part in parts)
        params = {name: value for name, value in query.items() if value is not None}
        return self.url + path + ("?" + urlencode(params) if params else "")

    def ws_endpoint(self, *parts: str, **query: Any) -> str:
        http = self.endpoint(*parts, **query)
        return "ws" + http[4:] if http.startswith("http") else http

    @property
    def loopback(self) -> bool:
        host = urlsplit(self.url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def normalise_url(url: str) -> str:
    """``127.0.0.1:8888`` -> ``http://127.0.0.1:8888/``: scheme and trailing slash added."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url if url.endswith("/") else url + "/"


#: First path segments of Jupyter's own pages: what follows the base URL in a URL it prints.
JUPYTER_PAGES = frozenset(
    {"lab", "tree", "notebooks", "edit", "view", "doc", "terminals", "consoles", "files"}
    | {"login", "nbclassic", "terrarium"}
)


def server_url(url: str, known: Iterable[str] = ()) -> tuple[str, str | None]:
    """What a person pastes -> ``(base URL, token or None)``.

    ``http://host:8888/base/lab/tree/x.ipynb?token=T`` -> ``("http://host:8888/base/", "T")``.
    The token comes from the query string. The base URL is the longest of the
    ``known`` server URLs (those of the running-server files) that the URL
    starts with; failing that, the path up to its first Jupyter page segment
    (``lab``, ``tree``, ``notebooks``, ``terrarium``, ...), or the whole path.
    Raises ``BadURL`` for what cannot be a server URL.
    """
    text = url.strip()
    if not text:
        raise BadURL("the server URL is empty")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError as error:
        raise BadURL(f"{url!r} is not a server URL: {error}") from None
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in ("http", "https"):
        raise BadURL(f"{url!r} is not a server URL: the scheme must be http or https")
    if not parts.hostname:
        raise BadURL(f"{url!r} is not a server URL: it names no host")
    tokens = parse_qs(parts.query).get("token")
    token = tokens[-1] if tokens and tokens[-1] else None
    whole = normalise_url(f"{scheme}://{parts.netloc}{parts.path}")
    candidates = [normalise_url(other) for other in known]
    matches = [base for base in candidates if whole.startswith(base)]
    if matches:
        return max(matches, key=len), token
    segments = parts.path.split("/")
    for index, segment in enumerate(segments):
        if segment in JUPYTER_PAGES:
            segments = segments[:index]
            break
    return normalise_url(f"{scheme}://{parts.netloc}" + "/".join(segments)), token


def running_servers(runtime_dir: Path | None = None) -> list[dict[str, Any]]:
    """The servers described in ``jpserver-*.json``, newest first, dead ones left out."""
    if runtime_dir is None:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime_dir = Path(jupyter_runtime_dir())
    found = []
    for path in runtime_dir.glob("jpserver-*.json"):
        try:
            info = json.loads(path.read_text())
            mtime = path.stat().st_mtime
        except (OSError, ValueError):
            continue
        if not isinstance(info, dict) or not isinstance(info.get("url"), str) or info.get("sock"):
            continue
        if _alive(info.get("pid")):
            found.append((mtime, {**info, "file": path.name}))
    return [info for _, info in sorted(found, key=lambda item: item[0], reverse=True)]


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) is not a probe there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_server(
    url: str | None = None,
    token: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    runtime_dir: Path | None = None,
) -> Server:
    """Options, then the environment, then this kernel's server, then the newest one.

    ``url`` (or ``TERRARIUM_URL``) may be any URL the server printed: see
    ``server_url()``. A token in its query counts as given with it, after
    ``token`` and before the environment's.
    """
    env = os.environ if environ is None else environ
    source = "option" if url else "environment"
    url = url or env.get("TERRARIUM_URL") or None
    if url is not None:
        servers = running_servers(runtime_dir)
        try:
            base, url_token = server_url(url, (info["url"] for info in servers))
        except BadURL as error:
            where = "" if source == "option" else " (from $TERRARIUM_URL)"
            raise BadURL(f"{error}{where}") from None
        token = token or url_token or env.get("TERRARIUM_TOKEN") or env.get("JUPYTER_TOKEN")
        if not token:
            token = next(
                (
                    info.get("token") or None
                    for info in servers
                    if normalise_url(info["url"]) == base
                ),
                None,
            )
        return Server(base, token or None, source)
    token = token or env.get("TERRARIUM_TOKEN") or env.get("JUPYTER_TOKEN") or None
    servers = running_servers(runtime_dir)
    if not servers:
        raise Unreachable(
            "no running Jupyter server found: start one with 'jupyter terrarium', "
            "or pass --url (or set TERRARIUM_URL)"
        )
    info, source = servers[0], servers[0]["file"]
    parent = _parent_server(servers, env.get("JPY_PARENT_PID"))
    if parent is not None:
        info, source = parent, f"{parent['file']} (JPY_PARENT_PID)"
    return Server(normalise_url(info["url"]), token or info.get("token") or None, source)


def _parent_server(servers: list[dict[str, Any]], parent_pid: str | None) -> dict[str, Any] | None:
    """The server whose pid is the kernel's ``JPY_PARENT_PID``: the one running this kernel."""
    if not parent_pid or not parent_pid.strip().isdigit():
        return None
    pid = int(parent_pid)
    return next((info for info in servers if info.get("pid") == pid), None)


def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    runtime_dir: Path | None = None,
) -> TerrariumClient:
    """A client of the Jupyter server that runs this kernel (or of ``url``).

    Where the server is, in order: ``url``/``token``; ``TERRARIUM_URL`` and
    ``TERRARIUM_TOKEN`` (or ``JUPYTER_TOKEN``); the running-server file whose
    ``pid`` is ``JPY_PARENT_PID``; the only, or newest, running server.
    ``client.server.source`` says which. Nothing is contacted until a call.
    """
    server = find_server(url, token, environ=environ, runtime_dir=runtime_dir)
    return TerrariumClient(server, timeout=timeout)


class TerrariumClient:
    """The REST routes and the WebSockets of one server.

    REST methods are synchronous; the socket methods are async (``await`` them
    in a notebook cell). In the kernel that publishes an agent, perturb it
    with ``await client.perturb(...)``: a synchronous call would hold the
    kernel's loop, which is the one that must answer the server.
    """

    def __init__(self, server: Server, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.server = server
        self.timeout = timeout
        handlers = [urllib.request.ProxyHandler({})] if server.loopback else []
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"<TerrariumClient {self.server.url} (from {self.server.source})>"

    def headers(self) -> dict[str, str]:
        token = self.server.token
        return {"Authorization": f"token {token}"} if token else {}

    def request(self, method: str, *parts: str, body: Any = None, **query: Any) -> Any:
        """One JSON request under ``terrarium/api``; raises ``ServerError`` or ``Unreachable``."""
        url = self.server.endpoint("terrarium", "api", *parts, **query)
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", **self.headers()}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise ServerError(error.code, _error_body(error)) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise Unreachable(f"cannot reach {self.server.url}: {reason}") from None

    def agents(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "agents")["agents"])

    def agent(self, agent_id: str) -> dict[str, Any]:
        """One agent's STATUS (its ``seq`` and ``epoch`` are where its stream is now)."""
        return dict(self.request("GET", "agents", agent_id))

    def events(
        self,
        agent_id: str,
        since: int | None = None,
        limit: int | None = None,
        *,
        epoch: str | None = None,
    ) -> EventHistory:
        """The agent's kept history: events with a seq after ``since``, oldest first.

        Without ``since``, every kept event. ``limit`` caps how many (1 to
        100,000; the oldest first). The result is a sequence of event dicts
        with ``gap`` (a ``(from, to)`` range of seqs asked for and no longer
        kept, or None), ``epoch`` (the numbering the seqs belong to), ``reset``
        (True when ``epoch`` was given and is gone: the events then start from
        the kept history's beginning) and ``next_since`` (where to carry on).
        ``history.to_pandas()`` is a DataFrame of it.
        """
        body = self.request(
            "GET", "agents", agent_id, "events", since=since, limit=limit, epoch=epoch
        )
        return EventHistory.from_reply(agent_id, since, body)

    def genus(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", name))

    def genera(self) -> list[dict[str, Any]]:
        """Every genus the server serves: ``{"genus", "description", "commands"}``, by name.

        Read from the OpenAPI document, where each genus has its listing
        route (``GET {genus}``, operation ``{genus}.list``) and one route per
        listed command.
        """
        paths: Mapping[str, Any] = self.request("GET", "openapi.json").get("paths", {})
        found = []
        for path, operations in paths.items():
            name = path[1:]
            listing = operations.get("get", {}) if isinstance(operations, dict) else {}
            if "/" in name or listing.get("operationId") != f"{name}.list":
                continue
            commands = sorted(
                other[len(path) + 1 :]
                for other, ops in paths.items()
                if other.startswith(path + "/") and isinstance(ops, dict) and "post" in ops
            )
            found.append(
                {"genus": name, "description": listing.get("summary", ""), "commands": commands}
            )
        return sorted(found, key=lambda genus: str(genus["genus"]))

    def call(
        self,
        genus: str,
        command: str,
        arguments: Mapping[str, Any] | None = None,
        /,
        **kwargs: Any,
    ) -> Any:
        """Run a genus command through Prism: ``client.call("grammar", "parse", text="...")``."""
        body = {**(arguments or {}), **kwargs}
        return self.request("POST", genus, command, body=body)["result"]

    def pending(self, agent_id: str | None = None) -> list[dict[str, Any]]:
        """Pending semaphore tokens of one agent, or of every agent that has some."""
        if agent_id is not None:
            return list(self.request("GET", "purgatory", agent_id, "pending")["pending"])
        tokens: list[dict[str, Any]] = []
        for status in self.agents():
            if status.get("pending_semaphores"):
                tokens.extend(self.pending(status["id"]))
        return tokens

    def token(self, agent_id: str, token_id: str) -> dict[str, Any]:
        """One semaphore TOKEN, pending or settled (its ``status`` says which)."""
        return dict(self.request("GET", "purgatory", agent_id, token_id))

    def resolve(self, agent_id: str, token_id: str, human_input: Any) -> dict[str, Any]:
        """Answer a pending token; the agent resumes with ``human_input``. Returns the TOKEN."""
        body = {"human_input": human_input}
        path = ("purgatory", agent_id, "resolve", token_id)
        return dict(self.request("POST", *path, body=body)["token"])

    def cancel(self, agent_id: str, token_id: str) -> dict[str, Any]:
        """Cancel a pending token; whoever waits on it gets an error. Returns the TOKEN."""
        return dict(self.request("POST", "purgatory", agent_id, "cancel", token_id)["token"])

    def pipelines(self) -> list[dict[str, Any]]:
        """Every pipeline the server lists: ``{"id", "stages", "edges"}``, with live figures."""
        return list(self.request("GET", "pipelines")["pipelines"])

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        """One pipeline's graph and live edge figures (``ServerError`` 404 if unknown)."""
        return dict(self.request("GET", "pipelines", pipeline_id))

    @overload
    def publish(self, agent: FluxAgent) -> Publication: ...

    @overload
    def publish(self, agent: Pipeline) -> PipelinePublication: ...

    def publish(self, agent: FluxAgent | Pipeline) -> Publication | PipelinePublication:
        """Serve a kernel agent (or a whole pipeline) through this server, as long as the
        kernel lives.

        Call it from the kernel's loop (a notebook cell): the publication starts
        as a background task at once; ``await`` it (or ``publish(...).ready()``)
        to know it is registered. A pipeline goes to ``publish_pipeline``. See
        ``terrarium.client.publish``.
        """
        from terrarium.client.publish import Publication
        from terrarium.pipeline import Pipeline

        if isinstance(agent, Pipeline):
            return self.publish_pipeline(agent)
        return Publication(self, agent).start()

    def publish_pipeline(self, pipeline: Pipeline, *, interval: float = 1.0) -> PipelinePublication:
        """Serve a kernel pipeline: every stage published, the graph listed in ``pipelines()``.

        Each stage is published as ``publish(agent)`` does; the first stage's
        socket also sends the pipeline's description (``Pipeline.describe()``)
        at once and whenever it changes, at most every ``interval`` seconds, so
        the server shows its live edge figures. ``await`` it to know the server
        lists it. See ``terrarium.client.publish.PipelinePublication``.
        """
        from terrarium.client.publish import PipelinePublication

        return PipelinePublication(self, pipeline, interval=interval).start()

    async def open_socket(self, *parts: str, **query: Any) -> ClientConnection:
        """One of the server's WebSockets under ``terrarium/``, authenticated with the token."""
        url = self.server.ws_endpoint("terrarium", *parts, **query)
        try:
            return await ws_connect(
                url,
                additional_headers=self.headers(),
                open_timeout=self.timeout,
                max_size=None,
                proxy=None if self.server.loopback else True,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            raise ServerError(
                status, _ws_error_body(status, parts, bytes(error.response.body))
            ) from None
        except (OSError, TimeoutError) as error:
            raise Unreachable(f"cannot reach {self.server.url}: {error}") from None

    async def observe(
        self, agent_id: str, since: int | None = None, epoch: str | None = None
    ) -> AsyncGenerator[Any, None]:
        """Every frame of the Reflection, parsed: ``hello`` first, then events and ``gap``s.

        Nothing is skipped: ``hello`` carries the snapshot, the newest seq and
        the stream's ``epoch``, and a ``gap`` says which seqs were missed
        (PROTOCOL.md section 2). Tell them apart from events by ``type``. To
        resume, pass the last seq seen and the epoch of the hello it came
        after: if the stream has started over since, the hello says
        ``"reset": true`` and the kept history follows from its start. Ends
        when the agent is removed.
        """
        socket = await self.open_socket("observe", agent_id, since=since, epoch=epoch)
        async with socket:
            async for message in socket:
                yield json.loads(message)

    async def perturb(
        self,
        agent_id: str,
        data: Any,
        *,
        priority: int | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the server's perturbation timeout
    ) -> Any:
        """Perturb through the Beam and return the output.

        Raises ``PerturbationFailed`` with the protocol's code (``queue_full``,
        ``timeout``, ``agent_error``, ...). When the agent asks a human, this
        waits until the token is resolved; use ``replies()`` to see the token.
        """
        async with contextlib.aclosing(
            self.replies(agent_id, data, priority=priority, perturbation_timeout=timeout)
        ) as replies:
            async for reply in replies:
                if reply.get("type") == "result":
                    return reply.get("output")
                if reply.get("type") == "error":
                    code = str(reply.get("code", "error"))
                    raise PerturbationFailed(code, str(reply.get("message", "")))
        raise PerturbationFailed("agent_unavailable", "the Beam closed before answering")

    async def replies(
        self,
        agent_id: str,
        data: Any,
        *,
        priority: int | None = None,
        perturbation_timeout: float | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The Beam's replies to one request: maybe ``semaphore``, then ``result`` or ``error``."""
        socket = await self.open_socket("perturb", agent_id)
        cid = uuid.uuid4().hex
        frame: dict[str, Any] = {"id": cid, "data": data}
        if priority is not None:
            frame["priority"] = priority
        if perturbation_timeout is not None:
            frame["timeout"] = perturbation_timeout
        async with socket:
            await socket.send(json.dumps(frame))
            async for message in socket:
                reply = json.loads(message)
                if not isinstance(reply, dict) or reply.get("id") not in (cid, None):
                    continue
                yield reply
                if reply.get("type") in ("result", "error"):
                    return


def _error_body(error: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        body = json.loads(error.read() or b"null")
    except (OSError, ValueError):
        body = None
    if isinstance(body, dict) and "error" in body:
        return body
    return {"error": "http_error", "message": f"HTTP {error.code} {error.reason}"}


def _ws_error_body(status: int, parts: tuple[str, ...], body: bytes | None) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return parsed
    if status == 409:
        return {"error": "conflict", "message": f"an agent {parts[-1]!r} already exists"}
    if status == 400:
        return {"error": "bad_request", "message": f"the server refused {parts[-1]!r}"}
    if status == 404:
        return {"error": "unknown_agent", "message": f"no agent {parts[-1]!r}"}
    if status in (401, 403):
        return {"error": "forbidden", "message": f"the server refused the {parts[0]} socket"}
    return {"error": "http_error", "message": f"the WebSocket handshake failed: HTTP {status}"}
