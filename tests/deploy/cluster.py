"""A stand-in Kubernetes API for the operator tests: KMock over real HTTP on 127.0.0.1.

KMock's ``KubernetesEmulator`` keeps objects in memory and serves list, watch,
get, create, merge-patch and delete over HTTP, the way a kube-apiserver does
for the parts kopf, the operator and kubectl use. :class:`Emulator` adds what
an API server fills in itself (uid, namespace, resourceVersion, generation,
creationTimestamp) and the AgentServer's scale subresource. Nothing here plays
the controllers: no pods start, no garbage collector runs; a test that needs a
Deployment to become ready says so through the API, as the Deployment
controller would (:meth:`KubeClient.mark_ready`).

:class:`KubeServer` runs it in a thread of its own (the operator runs in
kopf's thread, the test in the main one) and stops it on exit.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp.web
import attrs
import jsonpatch
import kmock
import yaml
from agentserver_operator.crd import crd

START_TIMEOUT = 15.0


def merge(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what KMock applies to a PATCH)."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(base) if isinstance(base, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    """KMock's emulator plus the fields an API server sets on every object (name from
    generateName, uid, resourceVersion...), 422 for a JSON patch that does not apply,
    a CRD's scale subresource and printer columns."""

    _versions: Any = attrs.field(factory=lambda: itertools.count(1), init=False)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        data = request.data
        if request.resource is not None and isinstance(data, dict):
            if request.action == kmock.action.CREATE:
                self._stamp_new(request, data)
            elif request.action == kmock.action.UPDATE and request.name is not None:
                self._stamp_update(request, data)
        elif request.resource is not None and isinstance(data, list) and request.name:
            # A JSON patch (kopf's finalizers, guarded by a "test" of the resourceVersion).
            version = str(next(self._versions))
            data.append({"op": "replace", "path": "/metadata/resourceVersion", "value": version})
        try:
            return await super()._handle(request)
        except jsonpatch.JsonPatchException as error:
            # What an API server answers when a JSON patch does not apply.
            raise kmock.KubernetesError(status=422, reason="Invalid", message=str(error)) from None

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self[kmock.subresource("scale")] << self._serve_scale

    async def _serve_scale(self, request: kmock.Request) -> dict[str, Any]:
        """A CRD's scale subresource: an autoscaling/v1 Scale over spec.replicas."""
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            raise kmock.KubernetesObjectNotFoundError()
        body = self.objects[key].raw
        status = body.get("status") or {}
        return {
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {
                key: body["metadata"][key]
                for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if key in body["metadata"]
            },
            "spec": {"replicas": (body.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": status.get("replicas", 0),
                "selector": status.get("selector", ""),
            },
        }

    async def _serve_version(self, request: kmock.Request) -> Any:
        """Discovery as an API server words it: the core group is "v1"; for subresources,
        scale is an autoscaling/v1 Scale and short names belong to the resource alone."""
        listing = await super()._serve_version(request)
        listing["groupVersion"] = listing["groupVersion"].lstrip("/")  # "v1", not "/v1"
        for entry in listing.get("resources", []):
            if "/" in entry["name"]:
                entry["shortNames"] = []
                entry["categories"] = []
                entry["verbs"] = ["get", "patch", "update"]
                if entry["name"].endswith("/scale"):
                    entry.update(group="autoscaling", version="v1", kind="Scale")
        return listing

    async def _serve_list(self, request: kmock.Request) -> Any:
        """A list names its kind (kubectl needs it); asked for a Table (``kubectl get``),
        a custom resource's list is one, with the printer columns of its CRD."""
        listing = await super()._serve_list(request)
        resource = request.resource
        assert resource is not None
        accept = {key.lower(): value for key, value in request.headers.items()}.get("accept", "")
        columns = self._printer_columns(resource.group, resource.plural)
        if "as=Table" in accept and columns is not None:
            return _table(columns, listing["items"])
        info = self.resources.get(resource, None)
        kind = info.kind if info is not None and info.kind else "List"
        group_version = f"{resource.group}/{resource.version}".lstrip("/")
        return {"apiVersion": group_version, "kind": f"{kind}List", **listing}

    def _printer_columns(self, group: Any, plural: Any) -> list[dict[str, Any]] | None:
        for (resource, _, _), obj in list(self.objects.items()):
            if resource.plural != "customresourcedefinitions" or obj.deleted:
                continue
            spec = obj.raw.get("spec") or {}
            if spec.get("group") == group and spec["names"]["plural"] == plural:
                return list(spec["versions"][0].get("additionalPrinterColumns") or [])
        return None

    def _stamp_new(self, request: kmock.Request, data: dict[str, Any]) -> None:
        meta = data.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if request.namespace and not meta.get("namespace"):
            meta["namespace"] = request.namespace
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = str(next(self._versions))
        meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        meta["generation"] = 1

    def _stamp_update(self, request: kmock.Request, data: dict[str, Any]) -> None:
        if request.subresource == "scale":
            # The scale subresource of a CRD: spec.replicas of the object itself.
            replicas = (data.get("spec") or {}).get("replicas")
            data.clear()
            if replicas is not None:
                data["spec"] = {"replicas": replicas}
        key = (request.resource, request.namespace, request.name)
        live = self.objects[key].raw if key in self.objects else {}
        meta = data.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        if "spec" in data and request.subresource != "status":
            old_spec = live.get("spec")
            if merge(old_spec, data["spec"]) != old_spec:
                meta["generation"] = int((live.get("metadata") or {}).get("generation") or 0) + 1


def _json_path(obj: Any, path: str) -> Any:
    for key in path.lstrip(".").split("."):
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _age(timestamp: str) -> str:
    then = datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    seconds = int((datetime.datetime.now(datetime.UTC) - then).total_seconds())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def _table(columns: list[dict[str, Any]], items: list[dict[str, Any]]) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table, as the API server renders a CRD's printer columns."""
    definitions = [{"name": "Name", "type": "string", "format": "name", "priority": 0}]
    definitions += [
        {"name": c["name"], "type": c["type"], "format": "", "priority": c.get("priority", 0)}
        for c in columns
    ]
    rows = []
    for item in items:
        cells: list[Any] = [item["metadata"]["name"]]
        for column in columns:
            value = _json_path(item, column["jsonPath"])
            if column["type"] == "date" and value:
                value = _age(value)
            cells.append(value)
        rows.append(
            {
                "cells": cells,
                "object": {
                    "apiVersion": "meta.k8s.io/v1",
                    "kind": "PartialObjectMetadata",
                    "metadata": item["metadata"],
                },
            }
        )
    return {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "Table",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def _declare(cluster: Emulator) -> None:
    names = crd()["spec"]["names"]
    group = crd()["spec"]["group"]
    for version in crd()["spec"]["versions"]:
        cluster.resources[f"{group}/{version['name']}/{names['plural']}"] = kmock.ResourceInfo(
            kind=names["kind"],
            singular=names["singular"],
            shortnames=set(names["shortNames"]),
            namespaced=True,
            verbs={"get", "list", "watch", "create", "update", "patch", "delete"},
            subresources=set(version["subresources"]),
        )
    verbs = {"get", "list", "watch", "create", "update", "patch", "delete"}
    for key, kind in {
        "apps/v1/deployments": "Deployment",
        "v1/services": "Service",
        "v1/configmaps": "ConfigMap",
        "v1/secrets": "Secret",
        "v1/events": "Event",
        "networking.k8s.io/v1/ingresses": "Ingress",
        "networking.k8s.io/v1/networkpolicies": "NetworkPolicy",
    }.items():
        subresources = {"status"} if kind in ("Deployment", "Service", "Ingress") else set()
        cluster.resources[key] = kmock.ResourceInfo(
            kind=kind,
            singular=kind.lower(),
            namespaced=True,
            verbs=verbs,
            subresources=subresources,
        )
    cluster.resources["v1/namespaces"] = kmock.ResourceInfo(
        kind="Namespace", singular="namespace", namespaced=False, verbs=verbs
    )
    cluster.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = kmock.ResourceInfo(
        kind="CustomResourceDefinition",
        singular="customresourcedefinition",
        namespaced=False,
        verbs=verbs,
    )


class KubeServer:
    """KMock on 127.0.0.1, in its own thread and event loop, for the length of a ``with``."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._started: Future[tuple[Emulator, str]] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kmock", daemon=True)
        self.url = ""
        self.cluster: Emulator | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:  # reported to __enter__ if it never started
            if not self._started.done():
                self._started.set_exception(error)
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with Emulator() as cluster, kmock.Server(cluster, host="127.0.0.1") as server:
            _declare(cluster)
            self._started.set_result((cluster, str(server.url).rstrip("/")))
            await self._stop.wait()

    def __enter__(self) -> KubeServer:
        self._thread.start()
        self.cluster, self.url = self._started.result(timeout=START_TIMEOUT)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=START_TIMEOUT)
        assert not self._thread.is_alive(), "the KMock server did not stop"

    def requests(self) -> list[kmock.Request]:
        """Every request the server got so far (read in the server's own thread)."""
        assert self.cluster is not None
        cluster = self.cluster

        async def snapshot() -> list[kmock.Request]:
            return list(cluster._requests)

        return asyncio.run_coroutine_threadsafe(snapshot(), self._loop).result(START_TIMEOUT)

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "not-checked"}}],
            "contexts": [
                {
                    "name": "kmock",
                    "context": {"cluster": "kmock", "user": "tester", "namespace": "default"},
                }
            ],
            "current-context": "kmock",
        }
        path.write_text(yaml.safe_dump(config))
        return path


class KubeClient:
    """Plain HTTP calls to the test API server, as a test would make with kubectl."""

    def __init__(self, url: str, namespace: str = "default") -> None:
        self.url = url
        self.namespace = namespace

    def path(self, api_version: str, plural: str, name: str | None = None) -> str:
        prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        path = f"{prefix}/namespaces/{self.namespace}/{plural}"
        return f"{path}/{name}" if name else path

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def get(self, api_version: str, plural: str, name: str) -> dict[str, Any] | None:
        status, body = self.call("GET", self.path(api_version, plural, name))
        if status == 404:
            return None
        assert status == 200, (status, body)
        return dict(body)

    def create(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        status, body = self.call("POST", self.path(manifest["apiVersion"], plural), manifest)
        assert status in (200, 201), (status, body)
        return dict(body)

    def patch(
        self, api_version: str, plural: str, name: str, patch: Any, subresource: str = ""
    ) -> dict[str, Any]:
        path = self.path(api_version, plural, name) + (f"/{subresource}" if subresource else "")
        status, body = self.call("PATCH", path, patch, "application/merge-patch+json")
        assert status == 200, (status, body)
        return dict(body)

    def delete(self, api_version: str, plural: str, name: str) -> int:
        status, _ = self.call("DELETE", self.path(api_version, plural, name))
        return status

    def install_crd(self) -> None:
        """What ``kubectl apply -f deploy/crd.yaml`` leaves in the API server."""
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        status, body = self.call("POST", path, crd())
        assert status in (200, 201), (status, body)

    # -- playing the controllers' part ----------------------------------------------------

    def mark_ready(self, name: str, ready: int) -> None:
        """What the Deployment controller reports once ``ready`` pods pass their probes."""
        deployment = self.get("apps/v1", "deployments", name)
        assert deployment is not None
        self.patch(
            "apps/v1",
            "deployments",
            name,
            {
                "status": {
                    "observedGeneration": deployment["metadata"].get("generation", 1),
                    "replicas": ready,
                    "updatedReplicas": ready,
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                }
            },
            subresource="status",
        )


def eventually(probe: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``probe`` until it returns something truthy; fail with its last answer after
    ``timeout`` seconds (a deadline for a state to be reached, not a speed check)."""
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    last: Any = None
    try:
        while not deadline.is_set():
            last = probe()
            if last:
                return last
            deadline.wait(0.05)
    finally:
        timer.cancel()
    raise AssertionError(f"not reached within {timeout:g}s: {what} (last: {last!r})")
