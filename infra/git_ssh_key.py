"""The git-sync deploy key: a durable Secrets Manager secret whose value an operator sets once.

git-sync reads the DAG repository's SSH deploy key from a Kubernetes Secret in the Airflow namespace
(key ``gitSshKey``, mounted by the chart without ``optional``). A Secret made by hand in a namespace
the stack owns cannot exist before the first deploy (no cluster yet) and dies with the cluster on
``pulumi destroy``: every git-sync pod then stays in ContainerCreating and a recreate's Helm wait
times out. So the key lives where the other durable secrets live (``infra.durable``):

* a Secrets Manager secret with a fixed name (``<prefix>/git-ssh-key``), retained on destroy and
  adopted by the next ``up``, whether this stack created it or an operator did first
  (``aws secretsmanager create-secret``);
* its value is set by an operator, once, with ``put-secret-value`` (or at ``create-secret``): the
  private half of a deploy key registered on the git host. The stack never writes a value;
* the Airflow component copies the current value into the Kubernetes Secret on every ``up``
  (``infra.airflow``), so a recreated cluster gets it back with no hand step.

The value may not exist yet (the first ``up`` before the operator set it): ``has_value`` is then
False, the Kubernetes Secret holds an empty key, and the stack installs Airflow without waiting for
its pods and says what is missing. Once the value is set, the next ``up`` writes it and the git-sync
containers, which retry, start with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from infra.airflow_secrets import RECOVERY_WINDOW_DAYS
from infra.durable import current_version_id, find_by_name

GIT_SSH_KEY = "git-ssh-key"
"""Last part of the secret's name: ``<prefix>/git-ssh-key``."""

DESCRIPTION = (
    "Private SSH deploy key git-sync uses to read the DAG repository (value set by an operator). "
    "Durable: kept across stack destroy."
)


@dataclass(frozen=True, kw_only=True)
class GitSshKeyArgs:
    """Inputs of the GitSshKey component."""

    secret_name: str
    """Fixed Secrets Manager name, e.g. ``batch-platform/prod/airflow/git-ssh-key``: its durable identity."""

    tags: Mapping[str, str] = field(default_factory=dict)


class GitSshKey(pulumi.ComponentResource):
    """The deploy key's Secrets Manager secret, kept on destroy and adopted on recreate."""

    name: str
    arn: pulumi.Output[str]
    value: pulumi.Output[str]
    """The current value (a Pulumi secret); an empty string while the operator has not set one."""
    has_value: bool
    version_id: Optional[str]
    """The AWSCURRENT version this run read (known at program time), None without a value."""
    adopted: bool

    def __init__(self, name: str, args: GitSshKeyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:GitSshKey", name, None, opts)
        invoke = pulumi.InvokeOptions(parent=self)
        found = aws.secretsmanager.get_secrets(
            filters=[aws.secretsmanager.GetSecretsFilterArgs(name="name", values=[args.secret_name])], opts=invoke
        )
        arn = find_by_name(found.names or [], found.arns or [], args.secret_name)
        version_id = None
        if arn is not None:
            version_id = current_version_id(aws.secretsmanager.get_secret_versions(secret_id=arn, opts=invoke).versions or [])
            pulumi.log.info(f"adopting the existing secret {args.secret_name}", self)
        self.name = args.secret_name
        self.adopted = arn is not None
        self.version_id = version_id
        self.has_value = version_id is not None

        secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            name=args.secret_name,
            description=DESCRIPTION,
            recovery_window_in_days=RECOVERY_WINDOW_DAYS,
            tags={**args.tags, "Name": args.secret_name, "durable": "true"},
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, import_=arn),
        )
        if version_id is not None:
            current = aws.secretsmanager.get_secret_version_output(
                secret_id=arn, version_id=version_id, opts=pulumi.InvokeOutputOptions(parent=self)
            )
            self.value = pulumi.Output.secret(current.secret_string)
        else:
            self.value = pulumi.Output.secret("")
        self.arn = secret.arn
        self.register_outputs({"arn": self.arn, "name": self.name})
