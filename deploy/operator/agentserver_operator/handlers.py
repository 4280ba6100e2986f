"""Kopf handlers: make the children of each AgentServer, keep them as the spec says,
remove them with it, and keep its status current.

Every handler is idempotent: a child is created, or (409) patched to what the
spec renders; replays change nothing. Children carry an owner reference to
their AgentServer (``kopf.adopt``), so Kubernetes garbage-collects them even if
the operator is gone; while it runs, the delete handler removes them first.
The status follows the gateway Deployment's events, with a timer as backstop.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

import kopf

from agentserver_operator import model, status, validation
from agentserver_operator.kube import Conflict, KubeApi, manifest_path, object_path
from agentserver_operator.merge import apply_patch
from agentserver_operator.names import (
    API_VERSION,
    FINALIZER,
    GROUP,
    KIND,
    LAST_APPLIED,
    MANAGER,
    PLURAL,
    VERSION,
)
from agentserver_operator.render import (
    GATEWAY,
    render_children,
    render_token_secret,
)

#: Seconds between two status checks of an AgentServer by the timer. Changes of the
#: gateway Deployment update the status at once; the timer catches the rest (a load
#: balancer's address, a missed event).
STATUS_INTERVAL = float(os.environ.get("TERRARIUM_OPERATOR_STATUS_INTERVAL", "30"))

#: Children the operator may have made, besides what the spec renders now:
#: (apiVersion, kind, name suffix). Deleted with the AgentServer, or when no
#: longer wanted (``redis.managed`` or ``ingress.enabled`` turned off).
REDIS_CHILDREN = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _api(memo: kopf.Memo) -> KubeApi:
    api = memo.get("api")
    if not isinstance(api, KubeApi):
        raise kopf.TemporaryError("the operator has not started its API client yet", delay=1)
    return api


def _uid(body: Mapping[str, Any]) -> str | None:
    return (body.get("metadata") or {}).get("uid")


def _controller_uid(child: Mapping[str, Any]) -> str | None:
    for ref in (child.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def _owned_by(child: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = _uid(owner)
    refs = (child.get("metadata") or {}).get("ownerReferences") or []
    return uid is not None and any(ref.get("uid") == uid for ref in refs)


# -- operator set-up ------------------------------------------------------------------


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Keep kopf's bookkeeping in ``terrarium.dev/`` annotations (the status stays ours)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    memo["api"] = KubeApi()


@kopf.on.login()
async def login(
    settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any
) -> kopf.ConnectionInfo | None:
    """A kubeconfig (``KUBECONFIG`` or ``~/.kube/config``), else the pod's service account;
    the children's client uses the same credentials as kopf."""
    info = kopf.login_with_kubeconfig(settings=settings) or kopf.login_with_service_account(
        settings=settings
    )
    if info is not None:
        await _api(memo).connect(info)
    return info


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    api = memo.get("api")
    if isinstance(api, KubeApi):
        await api.close()


# -- applying children ----------------------------------------------------------------


async def apply(api: KubeApi, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Create the child, or patch the existing one to the manifest.

    The patch sets every field of the manifest and removes the fields the
    operator set last time and no longer renders (the ``terrarium.dev/last-applied``
    annotation); fields others set (defaults, a cluster IP) stay. A child of the
    same name controlled by something else is left alone.
    """
    desired = copy.deepcopy(dict(manifest))
    last_applied = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    desired["metadata"].setdefault("annotations", {})[LAST_APPLIED] = last_applied
    try:
        return await api.create(manifest_path(desired, named=False), desired)
    except Conflict:
        pass
    path = manifest_path(desired)
    live = await api.get(path)
    if live is None:
        raise kopf.TemporaryError(f"{path} vanished while being applied", delay=1)
    wanted_uid = _controller_uid(desired)
    live_uid = _controller_uid(live)
    if live_uid is not None and live_uid != wanted_uid:
        raise kopf.TemporaryError(
            f"{desired['kind']} {desired['metadata']['name']} exists and is controlled "
            "by another object; delete or rename it",
            delay=60,
        )
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    previous = json.loads(annotations.get(LAST_APPLIED) or "{}")
    return await api.merge_patch(path, apply_patch(previous, desired))


async def remove_if_owned(
    api: KubeApi, owner: Mapping[str, Any], api_version: str, kind: str, name: str
) -> bool:
    """Delete a child of ``owner``; anything it does not own is kept. True if deleted."""
    namespace = owner["metadata"]["namespace"]
    path = object_path(api_version, kind, namespace, name)
    live = await api.get(path)
    if live is None or not _owned_by(live, owner):
        return False
    return await api.delete(path)


async def ensure_token(
    api: KubeApi, server: model.AgentServer, body: kopf.Body, logger: kopf.Logger
) -> None:
    """The token Secret: used as it is when it exists, generated (and owned) when not."""
    path = object_path("v1", "Secret", server.namespace, server.token.name)
    live = await api.get(path)
    if live is None:
        secret = render_token_secret(server, secrets.token_hex(24))
        kopf.adopt(secret, owner=body)
        try:
            await api.create(manifest_path(secret, named=False), secret)
            logger.info("Generated the token Secret %s", server.token.name)
        except Conflict:
            pass  # made meanwhile by someone else: use theirs
        return
    if server.token.key in (live.get("data") or {}):
        return
    if _owned_by(live, body):
        secret = render_token_secret(server, secrets.token_hex(24))
        await api.merge_patch(path, {"data": secret["data"]})
        return
    raise kopf.TemporaryError(
        f"Secret {server.token.name} has no key {server.token.key!r}", delay=30
    )


async def prune(api: KubeApi, server: model.AgentServer, body: kopf.Body) -> None:
    """Delete the optional children the spec no longer asks for."""
    if not server.redis.managed:
        for api_version, kind in REDIS_CHILDREN:
            await remove_if_owned(api, body, api_version, kind, model.redis_name(server.name))
    if not server.ingress.enabled:
        await remove_if_owned(api, body, "networking.k8s.io/v1", "Ingress", server.name)


async def observe(
    api: KubeApi, body: Mapping[str, Any], reconciled: bool = False
) -> dict[str, Any]:
    """The status the AgentServer should show now. ``observedGeneration`` moves to the
    object's generation only once that generation was applied (``reconciled``); the
    timer and the Deployment events keep the one they found."""
    current = body.get("status") or {}
    generation = (
        (body.get("metadata") or {}).get("generation")
        if reconciled
        else current.get("observedGeneration")
    )
    previous = current.get("conditions") or []
    problems = validation.validate(body)
    if problems:
        return status.invalid_status(problems, previous, _now(), generation)
    server = model.AgentServer.from_body(body)
    ns, name = server.namespace, server.name
    deployment = await api.get(object_path("apps/v1", "Deployment", ns, name))
    service = await api.get(object_path("v1", "Service", ns, name))
    ingress = None
    if server.ingress.enabled:
        ingress = await api.get(object_path("networking.k8s.io/v1", "Ingress", ns, name))
    if deployment is not None and not _owned_by(deployment, body):
        deployment = None
    return status.compute_status(
        server,
        deployment=deployment,
        service=service,
        ingress=ingress,
        previous=previous,
        now=_now(),
        generation=generation,
    )


async def reconcile(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger
) -> None:
    api = _api(memo)
    problems = validation.validate(body)
    if problems:
        previous = (body.get("status") or {}).get("conditions") or []
        generation = body.get("metadata", {}).get("generation")
        patch.status.update(status.invalid_status(problems, previous, _now(), generation))
        raise kopf.PermanentError(
            "invalid AgentServer: " + "; ".join(str(problem) for problem in problems)
        )
    server = model.AgentServer.from_body(body)
    await ensure_token(api, server, body, logger)
    for manifest in render_children(server):
        kopf.adopt(manifest, owner=body)
        await apply(api, manifest)
    await prune(api, server, body)
    if server.replicas > 1 and not server.redis.enabled:
        kopf.warn(
            body,
            reason="NoBackplane",
            message=f"{server.replicas} replicas without spec.redis do not share agents",
        )
    new = await observe(api, body, reconciled=True)
    if status.changed(body.get("status") or {}, new):
        patch.status.update(new)
    message = f"image {server.image}, {server.replicas} replica(s)"
    logger.info("AgentServer %s/%s applied: %s", server.namespace, server.name, message)
    kopf.info(body, reason="Applied", message=message)


# -- the AgentServer's life -----------------------------------------------------------


@kopf.on.create(GROUP, VERSION, PLURAL, id="create")
async def created(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    await reconcile(body, patch, memo, logger)


@kopf.on.update(GROUP, VERSION, PLURAL, id="update")
async def updated(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Scale, image, settings, anything: render again and apply."""
    await reconcile(body, patch, memo, logger)


@kopf.on.resume(GROUP, VERSION, PLURAL, id="resume")
async def resumed(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """After an operator restart: bring the children back to the spec."""
    await reconcile(body, patch, memo, logger)


@kopf.on.delete(GROUP, VERSION, PLURAL, id="delete")
async def deleted(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Delete the children first (owner references would do it later too)."""
    api = _api(memo)
    meta = body["metadata"]
    name = meta["name"]
    auth = (body.get("spec") or {}).get("auth") or {}
    children = [
        ("networking.k8s.io/v1", "Ingress", name),
        ("v1", "Service", name),
        ("apps/v1", "Deployment", name),
        *((api_version, kind, model.redis_name(name)) for api_version, kind in REDIS_CHILDREN),
        ("v1", "ConfigMap", model.config_map_name(name)),
        # The token Secret only if the operator generated it (it owns it then).
        ("v1", "Secret", auth.get("tokenSecret") or model.token_secret_name(name)),
    ]
    removed = [
        f"{kind}/{child}"
        for api_version, kind, child in children
        if await remove_if_owned(api, body, api_version, kind, child)
    ]
    logger.info("Deleted %s", ", ".join(removed) or "no children (already gone)")
    kopf.info(body, reason="Deleted", message=", ".join(removed) or "no children left")


@kopf.timer(GROUP, VERSION, PLURAL, id="status", interval=STATUS_INTERVAL)
async def refresh_status(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    new = await observe(_api(memo), body)
    if status.changed(body.get("status") or {}, new):
        patch.status.update(new)


@kopf.on.event(
    "apps",
    "v1",
    "deployments",
    labels={"app.kubernetes.io/managed-by": MANAGER, "app.kubernetes.io/component": GATEWAY},
)
async def gateway_changed(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A gateway Deployment changed (pods became ready, or not): update its owner's status."""
    meta = body.get("metadata") or {}
    name = (meta.get("labels") or {}).get("app.kubernetes.io/instance")
    namespace = meta.get("namespace")
    if not name or not namespace:
        return
    api = _api(memo)
    owner = await api.get(object_path(API_VERSION, KIND, namespace, name))
    if owner is None or owner["metadata"].get("deletionTimestamp"):
        return
    if not _owned_by(body, owner):
        return
    new = await observe(api, owner)
    if status.changed(owner.get("status") or {}, new):
        await api.merge_patch(
            object_path(API_VERSION, KIND, namespace, name, "status"), {"status": new}
        )
