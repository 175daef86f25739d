"""The Airflow component: the official chart as a Helm release, and everything it reads.

Registers, in the Airflow namespace:

* the Kubernetes Secrets the chart is pointed at (metadata connection through PgBouncer, fernet,
  API and JWT keys, PgBouncer's configuration and stats login, the admin password), all built from
  Pulumi secrets, so no secret value is ever in the Helm values;
* one IAM role per log-writing or log-reading component (IRSA), limited to the task-log prefix of
  the bucket and to the notification connections in Secrets Manager;
* the Secrets Manager secrets that hold the Slack and SMTP connections (the operator sets their
  values; see docs/airflow.md);
* the egress NetworkPolicies of the namespace (``infra.airflow_security``; the chart's own cover ingress);
* the Helm release (values from ``infra.airflow_values``) and, when a certificate is configured, a
  LoadBalancer Service for the UI: an NLB with TLS from ACM, internal unless configured otherwise.

Pure parts (manifests, IAM documents) are module functions with their own tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.airflow_secrets import RECOVERY_WINDOW_DAYS
from infra.durable import find_by_name
from infra import k8s_objects, pgbouncer, versions
from infra.airflow_values import (
    ADMIN_PASSWORD_KEY,
    API_SECRET_KEY,
    GIT_SSH_KEY,
    FERNET_SECRET_KEY,
    IRSA_COMPONENTS,
    JWT_SECRET_KEY,
    LOG_WRITERS,
    METADATA_SECRET_KEY,
    SLACK_CONNECTION_ID,
    SMTP_CONNECTION_ID,
    AirflowSettings,
    GitSyncDags,
    ImageRef,
    airflow_values,
    pool_plan,
)
from infra.airflow_security import egress_policy_objects
from infra.irsa import irsa_role

API_SERVER_PORT = 8080
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
NOTIFICATION_CONNECTIONS = (SLACK_CONNECTION_ID, SMTP_CONNECTION_ID)
SECRET_PLACEHOLDER = "(set from a Pulumi secret)"
LB = "service.beta.kubernetes.io/aws-load-balancer-"


@dataclass(frozen=True, kw_only=True)
class UiSettings:
    """How the UI is reached. No certificate: no load balancer at all (kubectl port-forward only)."""

    certificate_arn: Optional[str] = None
    internet_facing: bool = False
    allowed_cidrs: Sequence[str] = ()
    hostname: Optional[str] = None


# --- Pure: manifests ---------------------------------------------------------------------------------


def _labels() -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "batch-platform"}


def airflow_namespace_object(namespace: str, kubernetes_version: str) -> dict[str, Any]:
    """The Airflow namespace: ``restricted`` enforced, audited and warned, like ``batch-jobs``; every chart
    pod gets security contexts that pass it (infra/airflow_security.py)."""
    version = f"v{kubernetes_version}"
    labels = _labels()
    labels.update(
        {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": version,
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": version,
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": version,
        }
    )
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}


def secret_object(name: str, namespace: str, keys: Sequence[str]) -> dict[str, Any]:
    """An Opaque Secret whose values are placeholders here: the real ones are Pulumi secrets."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": _labels()},
        "stringData": {key: SECRET_PLACEHOLDER for key in keys},
    }


def ui_service_object(settings: AirflowSettings, ui: UiSettings) -> Optional[dict[str, Any]]:
    """The UI's LoadBalancer Service: an NLB terminating TLS (ACM) in front of the API servers.

    A Service of our own rather than the chart's: the chart's api-server Service also carries the
    in-cluster execution API (plain HTTP on 8080), which must never get a load balancer listener.
    The annotations are those of the EKS built-in service controller (type nlb, internal) plus the
    scheme annotation of the AWS Load Balancer Controller, so the NLB is internal with either.
    """
    if not ui.certificate_arn:
        return None
    annotations = {
        f"{LB}type": "nlb",
        f"{LB}scheme": "internet-facing" if ui.internet_facing else "internal",
        f"{LB}ssl-cert": ui.certificate_arn,
        f"{LB}ssl-ports": "https",
        f"{LB}ssl-negotiation-policy": TLS_POLICY,
        f"{LB}backend-protocol": "tcp",
        f"{LB}cross-zone-load-balancing-enabled": "true",
    }
    if not ui.internet_facing:
        annotations[f"{LB}internal"] = "true"
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        "selector": {"tier": "airflow", "component": "api-server", "release": settings.release_name},
        "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": API_SERVER_PORT}],
    }
    if ui.allowed_cidrs:
        spec["loadBalancerSourceRanges"] = list(ui.allowed_cidrs)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{settings.release_name}-ui",
            "namespace": settings.namespace,
            "labels": _labels(),
            "annotations": annotations,
        },
        "spec": spec,
    }


# --- Pure: IAM ---------------------------------------------------------------------------------------


def component_policy(bucket_arn: str, log_prefix: str, connections_arn_pattern: str, *, write: bool) -> str:
    """What one Airflow component may do in AWS: task logs under ``log_prefix`` (read, or read and
    write) and reading the notification connections. No delete: retention is the bucket's job.

    Listing covers the whole bucket, with no ``s3:prefix`` condition: the S3 task handler's first
    call for a new log is a HeadObject of a key that does not exist yet, which S3 answers with 404
    only to a caller allowed ``s3:ListBucket`` on the bucket, and that request carries no
    ``s3:prefix``; with a prefix-limited grant the answer is 403 and the handler uploads nothing.
    Listing reveals key names (DAG, run and task ids), never contents: objects stay limited to the
    prefix. tests/infra/test_task_log_policy.py runs the handler against this document."""
    prefix = log_prefix.strip("/")
    object_actions = ["s3:GetObject", "s3:PutObject"] if write else ["s3:GetObject"]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TaskLogObjects",
                    "Effect": "Allow",
                    "Action": object_actions,
                    "Resource": f"{bucket_arn}/{prefix}/*",
                },
                {"Sid": "TaskLogListing", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
                {
                    "Sid": "Connections",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": connections_arn_pattern,
                },
            ],
        },
        sort_keys=True,
    )


def connections_arn_pattern(partition: str, region: str, account_id: str, connections_prefix: str) -> str:
    """Every secret under the connections prefix (Secrets Manager appends a random suffix to names)."""
    return f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{connections_prefix.strip('/')}/*"


# --- The component -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AirflowArgs:
    """Inputs of the Airflow component."""

    kubernetes_provider: k8s.Provider
    """The provider of the EKS cluster (from the cluster component)."""

    oidc_provider_arn: pulumi.Input[str]
    """ARN of the cluster's IAM OIDC provider, trusted by the IRSA roles."""

    oidc_issuer: pulumi.Input[str]
    """The cluster's OIDC issuer URL (with or without https://)."""

    settings: AirflowSettings
    """Replicas, resources, DAG source, names: everything from the typed config."""

    database_instance_class: str
    """RDS instance class of the metadata database: PgBouncer's pools are derived from its limit."""

    metadata_connection_uri: pulumi.Input[str]
    """Secret: postgresql://user:password@host:port/db?sslmode=require of the metadata database."""

    fernet_key: pulumi.Input[str]
    """Secret: the durable fernet key (encrypts connections and variables in the database)."""

    api_secret_key: pulumi.Input[str]
    """Secret: the durable API secret key ([api] secret_key)."""

    jwt_secret: pulumi.Input[str]
    """Secret: the durable JWT signing secret ([api_auth] jwt_secret)."""

    task_log_bucket_name: pulumi.Input[str]
    """Name of the S3 bucket that keeps task logs."""

    task_log_bucket_arn: pulumi.Input[str]
    """ARN of that bucket (the IAM policies are scoped to it and to the log prefix)."""

    task_log_group_arn: Optional[pulumi.Input[str]] = None
    """CloudWatch log group task logs stream to (``infra.task_log_group``); None: task logs go to the bucket."""

    image_repository: pulumi.Input[str]
    """Repository of the platform's Airflow image (images/airflow), e.g. the stack's ECR repository URL."""

    image_tag: str
    """Tag of that image (immutable: a content tag)."""

    image_digest: Optional[str] = None
    """The digest that tag resolved to in the repository (``sha256:...``), when the image exists:
    every Airflow container then runs it by digest. None (first deploy, an image from elsewhere): by tag."""

    await_release: bool = True
    """Whether Helm waits for the release's pods to be ready. False when the image cannot exist yet
    (``image_available``) or git-sync's deploy key has no value yet."""

    image_available: bool = True
    """False when the image cannot exist yet (its repository is created by the same update, or holds
    nothing: a first deploy not completed). The release then has no migration and create-user Jobs:
    the next update, the first to find the image, creates them with the image pinned by digest (a Job
    created now could not be changed to it; Kubernetes refuses a change to a Job's pod template)."""

    ui: UiSettings = field(default_factory=UiSettings)
    """UI exposure. Default: no load balancer."""

    admin_password: Optional[pulumi.Input[str]] = None
    """Secret: the password of the admin user. None (default): a random 32-character password,
    kept in Pulumi state as a secret and in the Kubernetes Secret the operator reads it from."""

    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    """Annotations on every Airflow pod; a change restarts them. Default: none."""

    git_ssh_key: Optional[pulumi.Input[str]] = None
    """Secret: the git-sync deploy key (from ``infra.git_ssh_key``), written into the Kubernetes Secret
    ``settings.dags.ssh_key_secret`` under ``gitSshKey``. None (default): no such Secret is registered
    (an HTTPS repository, or DAGs in an image)."""

    wait_for: Sequence[pulumi.Resource] = ()
    """Resources the release waits for: the system node group and coredns, so Helm's wait for ready
    pods starts only once pods can be scheduled. Default: none (a cluster that already has nodes)."""

    helm_timeout_seconds: int = 1200
    """How long Helm waits for the release to become ready (first install migrates the database)."""


class Airflow(pulumi.ComponentResource):
    """Airflow on EKS from the official chart: KubernetesExecutor, external database, remote logs."""

    namespace: pulumi.Output[str]
    url: pulumi.Output[str]
    load_balancer: pulumi.Output[str]
    """The UI load balancer's DNS name ("" without one): the UI hostname's record must point at it."""
    role_arns: dict[str, pulumi.Output[str]]
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: AirflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:Airflow", name, None, opts)
        s = args.settings
        plan = pool_plan(s, args.database_instance_class)  # fails before anything is registered
        on_cluster = pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider)

        namespace = k8s_objects.register(f"{name}-namespace", airflow_namespace_object(s.namespace, s.kubernetes_version), on_cluster)
        in_namespace = pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider, depends_on=[namespace])

        for policy in egress_policy_objects(
            namespace=s.namespace, release_name=s.release_name, database_cidrs=s.database_cidrs,
            database_port=s.database_port, git_over_ssh=isinstance(s.dags, GitSyncDags) and bool(s.dags.ssh_key_secret),
            statsd_cidrs=s.metrics.cidrs if s.metrics else (), statsd_port=s.metrics.port if s.metrics else None,
        ):
            k8s_objects.register(f"{name}-networkpolicy-{policy['metadata']['name']}", policy, in_namespace)
        secrets = self._secrets(name, args, plan, in_namespace)
        self.role_arns = self._roles(name, args)
        self._connection_secrets(name, s)

        values = pulumi.Output.all(
            bucket=args.task_log_bucket_name,
            log_group=args.task_log_group_arn or "",
            image_repository=args.image_repository,
            **{c: arn for c, arn in self.role_arns.items()},
        ).apply(
            lambda v: airflow_values(
                s,
                plan,
                task_log_bucket=v["bucket"],
                task_log_group_arn=v["log_group"] or None,
                role_arns={c: v[c] for c in IRSA_COMPONENTS},
                image=ImageRef(v["image_repository"], args.image_tag, args.image_digest),
                pod_annotations=args.pod_annotations,
                image_available=args.image_available,
            )
        )
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=s.release_name,
            namespace=s.namespace,
            chart=versions.AIRFLOW_CHART_NAME,
            version=versions.AIRFLOW_CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=versions.AIRFLOW_CHART_REPOSITORY),
            values=values,
            create_namespace=False,
            timeout=args.helm_timeout_seconds,
            skip_await=not args.await_release,
            max_history=10,
            cleanup_on_fail=True,
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.kubernetes_provider, depends_on=[namespace, *secrets, *args.wait_for]
            ),
        )

        service_obj = ui_service_object(s, args.ui)
        if service_obj is not None:
            service = k8s_objects.register(
                f"{name}-ui",
                service_obj,
                pulumi.ResourceOptions(parent=self, provider=args.kubernetes_provider, depends_on=[self.release]),
            )
            if args.ui.hostname:
                self.url = pulumi.Output.from_input(f"https://{args.ui.hostname}")
            else:
                self.url = service.status.apply(_load_balancer_url)
            self.load_balancer = service.status.apply(lambda status: _load_balancer_url(status).removeprefix("https://"))
        else:
            self.load_balancer = pulumi.Output.from_input("")
            self.url = pulumi.Output.from_input(
                f"http://{s.release_name}-api-server.{s.namespace}.svc.cluster.local:{API_SERVER_PORT}"
            )
        self.namespace = namespace.metadata.apply(lambda m: m["name"])
        self.register_outputs({"namespace": self.namespace, "url": self.url, "role_arns": self.role_arns})

    def _secrets(
        self, name: str, args: AirflowArgs, plan: pgbouncer.PoolPlan, opts: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        s = args.settings
        n = s.secret_names
        login = pulumi.Output.secret(args.metadata_connection_uri).apply(pgbouncer.parse_connection_uri)
        if args.admin_password is None:
            admin_password = random.RandomPassword(
                f"{name}-admin-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
            ).result
        else:
            admin_password = args.admin_password
        contents: dict[str, dict[str, pulumi.Input[str]]] = {
            n.metadata: {
                METADATA_SECRET_KEY: login.apply(lambda l: pgbouncer.airflow_connection_via_pgbouncer(l, s.pgbouncer_host))
            },
            n.fernet_key: {FERNET_SECRET_KEY: args.fernet_key},
            n.api_secret_key: {API_SECRET_KEY: args.api_secret_key},
            n.jwt_secret: {JWT_SECRET_KEY: args.jwt_secret},
            n.pgbouncer_config: {
                "pgbouncer.ini": login.apply(lambda l: pgbouncer.pgbouncer_ini(l, plan)),
                "users.txt": login.apply(pgbouncer.pgbouncer_users),
            },
            n.pgbouncer_stats: {METADATA_SECRET_KEY: login.apply(pgbouncer.stats_connection)},
            n.admin_password: {ADMIN_PASSWORD_KEY: admin_password},
        }
        if isinstance(s.dags, GitSyncDags) and s.dags.ssh_key_secret and args.git_ssh_key is not None:
            # Copied from Secrets Manager on every up: a recreated cluster gets the key back by itself.
            contents[s.dags.ssh_key_secret] = {GIT_SSH_KEY: args.git_ssh_key}
        created = []
        for secret_name, data in contents.items():
            obj = secret_object(secret_name, s.namespace, list(data))
            created.append(
                k8s_objects.register(
                    f"{name}-{secret_name.removeprefix(s.release_name + '-')}-secret",
                    obj,
                    opts,
                    string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
                )
            )
        return created

    def _roles(self, name: str, args: AirflowArgs) -> dict[str, pulumi.Output[str]]:
        s = args.settings
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)
        pattern = pulumi.Output.all(partition.partition, identity.account_id).apply(
            lambda v: connections_arn_pattern(v[0], s.region, v[1], s.connections_prefix)
        )
        arns = {}
        for component in IRSA_COMPONENTS:
            policy = pulumi.Output.all(args.task_log_bucket_arn, pattern).apply(
                lambda v, write=component in LOG_WRITERS: component_policy(
                    v[0], s.task_log_prefix, v[1], write=write
                )
            )
            role = irsa_role(
                f"{name}-{component.replace('_', '-')}",
                oidc_provider_arn=args.oidc_provider_arn,
                oidc_issuer=args.oidc_issuer,
                namespace=s.namespace,
                service_account=s.service_account(component),
                inline_policy=policy,
                parent=self,
            )
            arns[component] = role.arn
        return arns

    def _connection_secrets(self, name: str, s: AirflowSettings) -> None:
        """Secrets Manager secrets for the notification connections: named here, valued by the
        operator (a missing value only fails the notification, never Airflow).

        Their values are connections an operator typed in: like the durable Airflow keys (see
        ``infra.durable``) they are kept on ``pulumi destroy`` and adopted again by the next
        ``pulumi up``, so a recreated stack notifies exactly as before.
        """
        prefix = s.connections_prefix.strip("/")
        found = aws.secretsmanager.get_secrets(
            filters=[aws.secretsmanager.GetSecretsFilterArgs(name="name", values=[f"{prefix}/"])],
            opts=pulumi.InvokeOptions(parent=self),
        )
        for conn_id in NOTIFICATION_CONNECTIONS:
            secret_name = f"{prefix}/{conn_id}"
            existing = find_by_name(found.names or [], found.arns or [], secret_name)
            aws.secretsmanager.Secret(
                f"{name}-{conn_id.replace('_', '-')}",
                name=secret_name,
                description=f"Airflow connection {conn_id} (JSON connection; value set by an operator). Durable: kept across stack destroy.",
                recovery_window_in_days=RECOVERY_WINDOW_DAYS,
                tags={"Name": secret_name, "durable": "true"},
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True, import_=existing),
            )


def _load_balancer_url(status: Any) -> str:
    """The UI URL from a LoadBalancer Service's status (``{"loadBalancer": {"ingress": [...]}}``)."""
    ingress = ((status or {}).get("loadBalancer") or {}).get("ingress") or []
    host = ingress[0].get("hostname") if ingress else None
    return f"https://{host}" if host else ""
