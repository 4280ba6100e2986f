"""Merging manifests: the ``podTemplate`` override and the apply patch.

:func:`strategic_merge` merges an override into a rendered pod template the
way ``kubectl patch --type=strategic`` does for the lists that matter in a pod
(containers, volumes, env, ports... merge by their key; other lists are
replaced), including the ``$patch: delete`` / ``$patch: replace`` directives and
``null`` to remove a field.

:func:`apply_patch` makes the JSON merge patch (RFC 7386) that turns a live
child into the desired one: every desired field, plus ``null`` for each field
the operator set last time (the last-applied annotation) and no longer wants,
so fields that others set (a cluster IP, defaults) are left alone.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

#: Merge keys of the pod's lists, as in the Kubernetes API's ``patchMergeKey``.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "resourceClaims": "name",
}

DIRECTIVE = "$patch"


def strategic_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in; neither is changed."""
    if patch.get(DIRECTIVE) == "replace":
        return {key: copy.deepcopy(value) for key, value in patch.items() if key != DIRECTIVE}
    result = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if key == DIRECTIVE:
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            if value.get(DIRECTIVE) == "delete":
                result.pop(key, None)
            else:
                current = result.get(key)
                result[key] = strategic_merge(
                    current if isinstance(current, Mapping) else {}, value
                )
        elif isinstance(value, list) and key in MERGE_KEYS:
            current = result.get(key)
            result[key] = _merge_list(
                current if isinstance(current, list) else [], value, MERGE_KEYS[key]
            )
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(base: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    if any(isinstance(item, Mapping) and item.get(DIRECTIVE) == "replace" for item in patch):
        return [
            copy.deepcopy(item)
            for item in patch
            if not (isinstance(item, Mapping) and item.get(DIRECTIVE) == "replace")
        ]
    result = [copy.deepcopy(item) for item in base]
    for item in patch:
        if not isinstance(item, Mapping) or merge_key not in item:
            result.append(copy.deepcopy(item))
            continue
        index = next(
            (
                i
                for i, existing in enumerate(result)
                if isinstance(existing, Mapping) and existing.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get(DIRECTIVE) == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(strategic_merge({}, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def apply_patch(last_applied: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch: all of ``desired``, and ``None`` for what only ``last_applied`` has."""
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        previous = last_applied.get(key)
        if isinstance(value, Mapping) and isinstance(previous, Mapping):
            patch[key] = apply_patch(previous, value)
        else:
            patch[key] = copy.deepcopy(value)
    for key in last_applied:
        if key not in desired:
            patch[key] = None
    return patch
