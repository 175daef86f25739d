"""Config section ``batch``: the namespace batch Jobs run in, their AWS permissions, quotas and egress."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from stacks.config.airflow import K8S_NAME, QUANTITY_CPU, QUANTITY_MEMORY
from stacks.config.base import Section
from stacks.config.problems import Problem

POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]+$")


class BatchQuotaConfig(Section):
    """Totals for the whole batch namespace: one runaway DAG cannot take the batch node group."""

    requests_cpu: str = Field("32", pattern=QUANTITY_CPU, description="Sum of the CPU requests of all batch pods.")
    requests_memory: str = Field("128Gi", pattern=QUANTITY_MEMORY, description="Sum of the memory requests of all batch pods.")
    limits_cpu: str = Field("64", pattern=QUANTITY_CPU, description="Sum of the CPU limits of all batch pods.")
    limits_memory: str = Field("256Gi", pattern=QUANTITY_MEMORY, description="Sum of the memory limits of all batch pods.")
    pods: int = Field(100, ge=1, description="Batch pods at once (running or pending).")
    jobs: int = Field(200, ge=1, description="Job objects, finished ones included until their TTL removes them.")


class BatchContainerLimitsConfig(Section):
    """Per-container defaults (for Jobs that set none) and ceilings."""

    default_request_cpu: str = Field("500m", pattern=QUANTITY_CPU, description="CPU request of a container that sets none.")
    default_request_memory: str = Field("1Gi", pattern=QUANTITY_MEMORY, description="Memory request of a container that sets none.")
    default_limit_cpu: str = Field("2", pattern=QUANTITY_CPU, description="CPU limit of a container that sets none.")
    default_limit_memory: str = Field("2Gi", pattern=QUANTITY_MEMORY, description="Memory limit of a container that sets none.")
    max_cpu: str = Field("8", pattern=QUANTITY_CPU, description="Largest CPU limit a batch container may ask for.")
    max_memory: str = Field("32Gi", pattern=QUANTITY_MEMORY, description="Largest memory limit a batch container may ask for.")


class BatchConfig(Section):
    """The batch-jobs runtime (the contract names: namespace batch-jobs, account batch-job-runner)."""

    namespace: str = Field(
        "batch-jobs", pattern=K8S_NAME, description="Namespace of the batch Jobs (the DAG library's BATCH_NAMESPACE)."
    )
    service_account: str = Field(
        "batch-job-runner",
        pattern=K8S_NAME,
        description="Service account of the batch Jobs, bound to their IAM role (BATCH_SERVICE_ACCOUNT).",
    )
    iam_policy_arns: list[str] = Field(
        default_factory=list,
        description="Managed IAM policies of the batch Jobs' role (IRSA). Empty: no AWS permission.",
    )
    quota: BatchQuotaConfig = Field(default_factory=BatchQuotaConfig)
    container_limits: BatchContainerLimitsConfig = Field(default_factory=BatchContainerLimitsConfig)
    https_egress: Literal["internet", "vpc"] = Field(
        "internet",
        description="internet: HTTPS anywhere except the instance metadata service; vpc: only inside the "
        "VPC (needs interface endpoints for every AWS API the batches call, STS included).",
    )
    database_egress: bool = Field(False, description="Let batch pods reach the database port in the database subnets.")

    @field_validator("iam_policy_arns")
    @classmethod
    def _policy_arns(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not POLICY_ARN.match(arn):
                raise ValueError(f"expected IAM policy ARNs such as arn:aws:iam::123456789012:policy/name, got {arn!r}")
        return value

    def problems(self, tier: str, path: str) -> list[Problem]:
        return []
