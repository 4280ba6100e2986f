"""A small asyncio client for the few Kubernetes calls the operator makes.

Kopf watches and patches the AgentServers itself; the children are read,
created, patched and deleted here, with the credentials kopf logged in with
(see the login handler in :mod:`.handlers`). It speaks plain JSON over
aiohttp, which kopf already depends on.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf

#: Plural resource names of the kinds the operator touches.
PLURALS: dict[str, str] = {
    "AgentServer": "agentservers",
    "ConfigMap": "configmaps",
    "Deployment": "deployments",
    "Ingress": "ingresses",
    "NetworkPolicy": "networkpolicies",
    "Secret": "secrets",
    "Service": "services",
}

MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """The API server said no."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    """409: the object already exists, or changed under an update."""


def object_path(
    api_version: str,
    kind: str,
    namespace: str,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """``/api/v1/namespaces/ns/services/name`` and the like."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{PLURALS[kind]}"
    if name is not None:
        path += f"/{name}"
        if subresource is not None:
            path += f"/{subresource}"
    return path


def manifest_path(manifest: Mapping[str, Any], *, named: bool = True) -> str:
    meta = manifest["metadata"]
    return object_path(
        manifest["apiVersion"],
        manifest["kind"],
        meta["namespace"],
        meta["name"] if named else None,
    )


def _decode(data: str | bytes) -> bytes:
    """Kubeconfig ``*-data`` fields are base64."""
    return base64.b64decode(data.encode() if isinstance(data, str) else data)


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if not info.server.startswith("https:"):
        return False
    if info.insecure:
        return False
    context = ssl.create_default_context()
    if info.ca_path:
        context.load_verify_locations(cafile=os.fsdecode(info.ca_path))
    if info.ca_data:
        context.load_verify_locations(cadata=_decode(info.ca_data).decode())
    if info.certificate_path and info.private_key_path:
        context.load_cert_chain(
            os.fsdecode(info.certificate_path), os.fsdecode(info.private_key_path)
        )
    elif info.certificate_data and info.private_key_data:
        with tempfile.TemporaryDirectory() as directory:
            cert, key = os.path.join(directory, "cert"), os.path.join(directory, "key")
            for path, data in ((cert, info.certificate_data), (key, info.private_key_data)):
                with open(path, "wb") as file:
                    file.write(_decode(data))
            context.load_cert_chain(cert, key)
    return context


def _headers(info: kopf.ConnectionInfo) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "terrarium-operator"}
    if info.token:
        headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
    elif info.username and info.password:
        pair = base64.b64encode(f"{info.username}:{info.password}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    return headers


class KubeApi:
    """JSON calls to one API server; :meth:`connect` (again) on every login."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._server = ""

    async def connect(self, info: kopf.ConnectionInfo) -> None:
        await self.close()
        self._server = info.server.rstrip("/")
        self._session = aiohttp.ClientSession(
            headers=_headers(info),
            connector=aiohttp.TCPConnector(ssl=_ssl_context(info)),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("KubeApi is not connected: no login happened yet")
        headers = {"Content-Type": content_type} if body is not None else {}
        async with self._session.request(
            method, self._server + path, json=body, headers=headers
        ) as response:
            try:
                payload: Any = await response.json(content_type=None)
            except ValueError:
                payload = {"message": await response.text()}
            if response.status >= 400:
                payload = payload if isinstance(payload, dict) else {}
                reason = str(payload.get("reason") or response.reason or "")
                message = str(payload.get("message") or "")
                error = {404: NotFound, 409: Conflict}.get(response.status, KubeError)
                raise error(response.status, reason, message)
            return payload if isinstance(payload, dict) else {}

    async def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None if there is none."""
        try:
            return await self.request("GET", path)
        except NotFound:
            return None

    async def create(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body)

    async def merge_patch(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PATCH", path, body, MERGE_PATCH)

    async def delete(self, path: str) -> bool:
        """Delete (children of the object go in the background); False if it was gone."""
        try:
            await self.request(
                "DELETE",
                path,
                {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"},
            )
        except NotFound:
            return False
        return True
