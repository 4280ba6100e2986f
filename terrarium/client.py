"""A client of a running Terrarium server: where it is, its REST routes and its two sockets.

It finds the server the way a user expects: ``--url``/``--token``, then the
``TERRARIUM_URL``/``TERRARIUM_TOKEN`` (or ``JUPYTER_TOKEN``) environment, then
the ``jpserver-*.json`` files every Jupyter server writes into the runtime
directory. REST goes through ``urllib`` and the WebSockets through the
``websockets`` package, so the core never needs Tornado or jupyter_server.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

#: Seconds to wait for a REST answer or a WebSocket handshake.
DEFAULT_TIMEOUT = 60.0


class ClientError(Exception):
    """Base of everything the client reports; ``str()`` is meant for a person."""


class Unreachable(ClientError):
    """No server answered at the URL (or none could be found at all)."""


class ServerError(ClientError):
    """The server answered with an error: its status and the protocol's error body."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        self.body = dict(body)
        self.code = str(body.get("error", "error"))
        super().__init__(str(body.get("message", f"HTTP {status}")))


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
    """Options first, then the environment, then the newest running Jupyter server."""
    env = os.environ if environ is None else environ
    source = "option" if url else "environment"
    url = url or env.get("TERRARIUM_URL") or None
    token = token or env.get("TERRARIUM_TOKEN") or env.get("JUPYTER_TOKEN") or None
    if url is not None:
        url = normalise_url(url)
        if token is None:
            token = next(
                (
                    info.get("token") or None
                    for info in running_servers(runtime_dir)
                    if normalise_url(info["url"]) == url
                ),
                None,
            )
        return Server(url, token, source)
    servers = running_servers(runtime_dir)
    if not servers:
        raise Unreachable(
            "no running Jupyter server found: start one with 'jupyter terrarium', "
            "or pass --url (or set TERRARIUM_URL)"
        )
    info = servers[0]
    return Server(normalise_url(info["url"]), token or info.get("token") or None, info["file"])


class TerrariumClient:
    """The REST routes and the two WebSockets of one server."""

    def __init__(self, server: Server, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.server = server
        self.timeout = timeout
        handlers = [urllib.request.ProxyHandler({})] if server.loopback else []
        self._opener = urllib.request.build_opener(*handlers)

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

    def genus(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", name))

    def call(self, genus: str, command: str, arguments: Mapping[str, Any]) -> Any:
        return self.request("POST", genus, command, body=dict(arguments))["result"]

    async def _connect(self, *parts: str, **query: Any) -> ClientConnection:
        url = self.server.ws_endpoint("terrarium", *parts, **query)
        try:
            return await connect(
                url,
                additional_headers=self.headers(),
                open_timeout=self.timeout,
                max_size=None,
                proxy=None if self.server.loopback else True,
            )
        except InvalidStatus as error:
            status = error.response.status_code
            raise ServerError(status, _ws_error_body(status, parts)) from None
        except (OSError, TimeoutError) as error:
            raise Unreachable(f"cannot reach {self.server.url}: {error}") from None

    async def observe(self, agent_id: str, since: int | None = None) -> AsyncGenerator[Any, None]:
        """Every frame of the Reflection, parsed: hello, events, gaps."""
        socket = await self._connect("observe", agent_id, since=since)
        async with socket:
            async for message in socket:
                yield json.loads(message)

    async def perturb(
        self,
        agent_id: str,
        data: Any,
        *,
        priority: int | None = None,
        perturbation_timeout: float | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The Beam's replies to one request: maybe ``semaphore``, then ``result`` or ``error``."""
        socket = await self._connect("perturb", agent_id)
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


def _ws_error_body(status: int, parts: tuple[str, ...]) -> dict[str, Any]:
    if status == 404:
        return {"error": "unknown_agent", "message": f"no agent {parts[-1]!r}"}
    if status in (401, 403):
        return {"error": "forbidden", "message": f"the server refused the {parts[0]} socket"}
    return {"error": "http_error", "message": f"the WebSocket handshake failed: HTTP {status}"}
