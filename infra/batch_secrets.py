"""The batch Jobs' secrets: kept in Secrets Manager by operators, copied into the batch namespace by the stack.

A job spec names Kubernetes Secrets (``secret_env``, ``env_from_secrets``) in the batch namespace. A
Secret made there by hand dies with the cluster on ``pulumi destroy``, and after a recreate every Job
that needs it fails (``CreateContainerConfigError``) until someone makes it again. So the values live
in Secrets Manager, outside the stack, and the stack copies them in on every ``pulumi up``:

* an operator creates ``<prefix>/<name>`` (e.g. ``batch-platform/prod/batch/secrets/ledger-export-params``)
  with a JSON object as its value: ``{"DB_PASSWORD": "..."}``;
* every ``pulumi up`` lists the secrets under the prefix and registers, per secret with a current
  value, the Kubernetes Secret ``<name>`` whose keys are the object's keys. Deleting the Secrets
  Manager secret removes the Kubernetes Secret at the next ``up``;
* the stack never writes to, retains or deletes these Secrets Manager secrets: they belong to the
  operators, so a destroy cannot lose them.

The values are read at program time, right after the AWS provider (``read_batch_secrets``), so that
a malformed one (not a JSON object of strings, a name Kubernetes refuses) stops the run before
anything else is registered.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws

from infra import k8s_objects
from infra.durable import current_version_id

# A Secret's name: a DNS subdomain (RFC 1123), at most 253 characters.
_K8S_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# A key of a Secret's data: letters, digits, '-', '_' and '.'.
_K8S_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
SECRET_PLACEHOLDER = "(set from Secrets Manager)"


class BatchSecretError(ValueError):
    """A batch secret in Secrets Manager cannot become a Kubernetes Secret: names the secret and why."""


def secret_name_problem(name: str) -> Optional[str]:
    if len(name) > 253 or not _K8S_SECRET_NAME.match(name):
        return "the part after the prefix is the Kubernetes Secret's name: lowercase letters, digits, '-' and '.', at most 253"
    return None


def secret_data(secret_id: str, secret_string: Optional[str]) -> dict[str, str]:
    """The keys and values of the Kubernetes Secret, from a Secrets Manager value (a JSON object of strings)."""
    try:
        document: Any = json.loads(secret_string or "")
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict) or not document:
        raise BatchSecretError(
            f"{secret_id}: the value must be a JSON object of strings, e.g. '{{\"DB_PASSWORD\": \"...\"}}' "
            "(its keys become the Kubernetes Secret's keys)"
        )
    for key, value in document.items():
        if not _K8S_SECRET_KEY.match(key) or not isinstance(value, str):
            raise BatchSecretError(
                f"{secret_id}: key {key!r} must be letters, digits, '-', '_' or '.', with a string value"
            )
    return dict(document)


def secret_object(name: str, namespace: str, keys: Sequence[str]) -> dict[str, Any]:
    """The Secret's manifest with placeholder values (the real ones are Pulumi secrets)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "batch-platform"},
        },
        "stringData": {key: SECRET_PLACEHOLDER for key in keys},
    }


def read_batch_secrets(prefix: str, opts: pulumi.InvokeOptions) -> dict[str, dict[str, str]]:
    """Kubernetes Secret name -> its data, for every secret under ``prefix`` that holds a value.

    Runs at program time, before anything is registered, so a malformed secret stops the run first.
    Raises BatchSecretError naming the secret.
    """
    prefix = prefix.rstrip("/") + "/"
    found = aws.secretsmanager.get_secrets(
        filters=[aws.secretsmanager.GetSecretsFilterArgs(name="name", values=[prefix])], opts=opts
    )
    contents: dict[str, dict[str, str]] = {}
    for secret_id, arn in sorted(zip(found.names or [], found.arns or [])):
        if not secret_id.startswith(prefix):  # the filter matches prefixes case-insensitively
            continue
        secret_name = secret_id[len(prefix):]
        problem = secret_name_problem(secret_name)
        if problem:
            raise BatchSecretError(f"{secret_id}: {problem}")
        version_id = current_version_id(aws.secretsmanager.get_secret_versions(secret_id=arn, opts=opts).versions or [])
        if version_id is None:
            pulumi.log.warn(f"{secret_id} has no value yet: no Kubernetes Secret {secret_name} until it has one")
            continue
        value = aws.secretsmanager.get_secret_version(secret_id=arn, version_id=version_id, opts=opts)
        contents[secret_name] = secret_data(secret_id, value.secret_string)
    return contents


@dataclass(frozen=True, kw_only=True)
class BatchSecretsArgs:
    """Inputs of the BatchSecrets component."""

    contents: Mapping[str, Mapping[str, str]]
    """Kubernetes Secret name -> data (``read_batch_secrets``). Values are wrapped as Pulumi secrets."""

    namespace: pulumi.Input[str]
    """The batch namespace (its Output, so the Secrets wait for the namespace)."""

    namespace_name: str
    """The same namespace's name, known at program time (manifests are validated before registering)."""


class BatchSecrets(pulumi.ComponentResource):
    """One Kubernetes Secret per batch secret read from Secrets Manager."""

    names: list[str]
    """The Kubernetes Secrets registered (known at program time)."""

    def __init__(self, name: str, args: BatchSecretsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:BatchSecrets", name, None, opts)
        self.names = sorted(args.contents)
        child = pulumi.ResourceOptions(parent=self)
        for secret_name in self.names:
            data = args.contents[secret_name]
            manifest = secret_object(secret_name, args.namespace_name, sorted(data))
            # The namespace Output carries the dependency on the namespace resource.
            manifest["metadata"]["namespace"] = args.namespace
            k8s_objects.register(
                f"{name}-{secret_name}",
                manifest,
                child,
                string_data={key: pulumi.Output.secret(v) for key, v in data.items()},
            )
        self.register_outputs({"names": self.names})
