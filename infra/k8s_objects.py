"""Kubernetes objects as plain dicts: validated offline, then registered as typed Pulumi resources.

Every object this project creates directly (not through a chart) is built by a pure function as the
manifest dict Kubernetes would receive. The same dict is (1) validated by the tests against the
OpenAPI schema of the cluster's Kubernetes version (``validate``) and (2) turned into the typed
``pulumi_kubernetes`` resource (``register``), so what is validated is exactly what is deployed.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import pulumi

# Fields of a manifest that are passed on as inputs; anything else is an error (nothing is dropped).
_MANIFEST_FIELDS = {
    "apiVersion", "kind", "metadata", "spec", "rules", "roleRef", "subjects", "type", "immutable",
    "stringData", "automountServiceAccountToken",
}


class KubernetesObject(pulumi.CustomResource):
    """A Kubernetes object registered straight from its manifest dict.

    The type token is the one the typed ``pulumi_kubernetes`` class uses
    (``kubernetes:<group>/<version>:<Kind>``, the core group spelled ``core``), so the provider and
    the state see exactly the same resource. Registering the dict directly keeps what was validated
    and what is deployed one object, and spares every run the import of the typed classes (the
    ``core.v1`` package alone is about 0.4 s).
    """

    metadata: pulumi.Output[Any]
    status: pulumi.Output[Any]

    def __init__(
        self,
        resource_name: str,
        manifest: Mapping[str, Any],
        opts: pulumi.ResourceOptions,
        string_data: Optional[Mapping[str, pulumi.Input[str]]] = None,
    ):
        unknown = set(manifest) - _MANIFEST_FIELDS
        if unknown:
            raise ValueError(f"{manifest['kind']} {manifest['metadata'].get('name')}: fields {sorted(unknown)} are not passed on")
        props: dict[str, Any] = {**manifest, "status": None}
        if manifest["kind"] == "Secret":
            if string_data is not None:
                props["stringData"] = pulumi.Output.secret(string_data)
            # As the typed Secret does: the provider's answers for these keys stay secret too.
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["data", "stringData"]))
        elif string_data is not None:
            raise ValueError("string_data is for Secrets only")
        super().__init__(type_token(manifest["apiVersion"], manifest["kind"]), resource_name, props, opts)


def type_token(api_version: str, kind: str) -> str:
    """Pulumi type token of a Kubernetes kind: ``v1``/``Namespace`` -> ``kubernetes:core/v1:Namespace``."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


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
) -> KubernetesObject:
    """Register ``obj``. ``string_data`` (Secrets only) carries Pulumi secrets, which the manifest dict
    replaces with placeholders so it can be validated without them."""
    manifest = {key: value for key, value in obj.items() if key != "stringData"} if string_data is not None else obj
    return KubernetesObject(resource_name, manifest, opts, string_data)
