"""Kubernetes objects as plain dicts: validated offline, then registered as typed Pulumi resources.

Every object this project creates directly (not through a chart) is built by a pure function as the
manifest dict Kubernetes would receive. The same dict is (1) validated by the tests against the
OpenAPI schema of the cluster's Kubernetes version (``validate``) and (2) turned into the typed
``pulumi_kubernetes`` resource (``register``), so what is validated is exactly what is deployed.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

# (apiVersion, kind) -> (resource class, top-level manifest fields passed as arguments).
_TYPES: dict[tuple[str, str], tuple[type, tuple[str, ...]]] = {
    ("v1", "Namespace"): (k8s.core.v1.Namespace, ("metadata",)),
    ("v1", "ServiceAccount"): (k8s.core.v1.ServiceAccount, ("metadata", "automountServiceAccountToken")),
    ("v1", "Secret"): (k8s.core.v1.Secret, ("metadata", "type", "immutable")),
    ("v1", "Service"): (k8s.core.v1.Service, ("metadata", "spec")),
    ("v1", "ResourceQuota"): (k8s.core.v1.ResourceQuota, ("metadata", "spec")),
    ("v1", "LimitRange"): (k8s.core.v1.LimitRange, ("metadata", "spec")),
    ("rbac.authorization.k8s.io/v1", "Role"): (k8s.rbac.v1.Role, ("metadata", "rules")),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (k8s.rbac.v1.RoleBinding, ("metadata", "roleRef", "subjects")),
    ("networking.k8s.io/v1", "NetworkPolicy"): (k8s.networking.v1.NetworkPolicy, ("metadata", "spec")),
}

# Camel-case manifest field -> Python argument name.
_ARGUMENT = {"automountServiceAccountToken": "automount_service_account_token", "roleRef": "role_ref"}


def validate(obj: Mapping[str, Any], version: str) -> None:
    """Raise kubernetes_validate.ValidationError unless ``obj`` matches the strict schema of ``version``."""
    import kubernetes_validate

    kubernetes_validate.validate(dict(obj), version, strict=True)


def register(
    resource_name: str,
    obj: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
    *,
    string_data: Optional[Mapping[str, pulumi.Input[str]]] = None,
) -> pulumi.CustomResource:
    """Register ``obj`` as its typed resource. ``string_data`` (Secrets only) carries Pulumi secrets,
    which the manifest dict replaces with placeholders so it can be validated without them."""
    try:
        cls, fields = _TYPES[(obj["apiVersion"], obj["kind"])]
    except KeyError:
        raise ValueError(f"no typed resource registered for {obj['apiVersion']} {obj['kind']}") from None
    unknown = set(obj) - set(fields) - {"apiVersion", "kind", "stringData"}
    if unknown:
        raise ValueError(f"{obj['kind']} {obj['metadata'].get('name')}: fields {sorted(unknown)} are not passed on")
    kwargs = {_ARGUMENT.get(key, key): obj[key] for key in fields if key in obj}
    if string_data is not None:
        kwargs["string_data"] = string_data
    return cls(resource_name, opts=opts, **kwargs)
