"""The platform contract for batch jobs, in one place: where and how every batch Kubernetes Job runs.

These names are agreed with the infrastructure (the namespace, its service account and the batch node
group are created by the Pulumi program), so the DAG library only reads them. Each can be overridden by
an environment variable of the Airflow components (scheduler, DAG processor, workers), which is how a
different cluster or a test points elsewhere; the defaults are the production names.

| setting                      | environment variable                 | default                 |
|------------------------------|--------------------------------------|-------------------------|
| namespace                    | BATCH_NAMESPACE                      | batch-jobs              |
| service account              | BATCH_SERVICE_ACCOUNT                | batch-job-runner        |
| node selector label          | BATCH_NODE_LABEL                     | workload=batch          |
| taint tolerated              | BATCH_NODE_TAINT                     | workload=batch:NoSchedule |
| Kubernetes connection        | BATCH_KUBERNETES_CONN_ID             | kubernetes_default      |
| Slack connection             | BATCH_SLACK_CONN_ID                  | slack_notifications     |
| SMTP connection              | BATCH_SMTP_CONN_ID                   | smtp_notifications      |
| Job TTL after finishing (s)  | BATCH_TTL_SECONDS_AFTER_FINISHED     | 86400                   |
| Job poll interval (s)        | BATCH_JOB_POLL_INTERVAL_SECONDS      | 15                      |
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Toleration:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class PlatformSettings:
    namespace: str
    service_account: str
    node_selector: dict[str, str]
    toleration: Toleration
    kubernetes_conn_id: str
    slack_conn_id: str
    smtp_conn_id: str
    ttl_seconds_after_finished: int
    job_poll_interval_seconds: int


def _label(text: str, variable: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"{variable} must look like key=value, got {text!r}")
    return key, value


def _taint(text: str, variable: str) -> Toleration:
    label, sep, effect = text.partition(":")
    if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise ValueError(f"{variable} must look like key=value:NoSchedule, got {text!r}")
    key, value = _label(label, variable)
    return Toleration(key=key, value=value, effect=effect)


def _int(env, variable: str, default: int) -> int:
    text = env.get(variable, str(default))
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{variable} must be an integer, got {text!r}") from None


def load(environ: dict[str, str] | None = None) -> PlatformSettings:
    """Read the settings from the environment (``os.environ`` unless given), with the contract defaults."""
    env = os.environ if environ is None else environ
    node_key, node_value = _label(env.get("BATCH_NODE_LABEL", "workload=batch"), "BATCH_NODE_LABEL")
    return PlatformSettings(
        namespace=env.get("BATCH_NAMESPACE", "batch-jobs"),
        service_account=env.get("BATCH_SERVICE_ACCOUNT", "batch-job-runner"),
        node_selector={node_key: node_value},
        toleration=_taint(env.get("BATCH_NODE_TAINT", "workload=batch:NoSchedule"), "BATCH_NODE_TAINT"),
        kubernetes_conn_id=env.get("BATCH_KUBERNETES_CONN_ID", "kubernetes_default"),
        slack_conn_id=env.get("BATCH_SLACK_CONN_ID", "slack_notifications"),
        smtp_conn_id=env.get("BATCH_SMTP_CONN_ID", "smtp_notifications"),
        ttl_seconds_after_finished=_int(env, "BATCH_TTL_SECONDS_AFTER_FINISHED", 86400),
        job_poll_interval_seconds=_int(env, "BATCH_JOB_POLL_INTERVAL_SECONDS", 15),
    )
