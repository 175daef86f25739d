"""The CloudWatch log group Airflow's task logs stream to, so a task whose pod dies keeps its log.

With S3 remote logging a task's log file is uploaded only when the task ends: a pod that is
OOM-killed, evicted or lost with its node takes the log with it (apache/airflow#50007). Airflow's
CloudWatch task handler (amazon provider, ``CloudWatchRemoteLogIO``) sends the lines while the task
runs instead (Watchtower batches them and sends at least once a minute), and the UI reads them back
from the group. So the log of a pod that dies mid-run is there up to its last minute at most.

The group is durable like the other log groups (``infra.log_groups``): retained on destroy, adopted
again on up, with our retention. Writers (scheduler, triggerer, DAG processor, task pods) may create
streams and put events in it; the API server may only read it. ``CreateLogGroup`` on this one group
is granted because Watchtower asks for it on start (and accepts "already exists").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import pulumi
import pulumi_aws as aws

from infra.log_groups import service_log_group

WRITE_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams")
READ_ACTIONS = ("logs:GetLogEvents", "logs:DescribeLogStreams")


def task_log_group_name(project: str, stack: str) -> str:
    return f"/{project}/{stack}/airflow/task-logs"


def log_group_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """The group's ARN as Airflow's handler parses it (``arn.split(":")``: region at 3, name at 6)."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{name}"


def task_log_policy(group_arn: str, *, write: bool) -> str:
    """Access to the task-log group: its streams (``<arn>:log-stream:*``) and the group itself."""
    actions = sorted(set(WRITE_ACTIONS + READ_ACTIONS) if write else set(READ_ACTIONS))
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TaskLogGroup",
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": [group_arn, f"{group_arn}:*"],
                }
            ],
        },
        sort_keys=True,
    )


@dataclass(frozen=True, kw_only=True)
class TaskLogGroupArgs:
    name: str
    """Fixed name (``task_log_group_name``), so a recreated stack adopts the group."""
    region: str
    retention_days: int
    tags: Mapping[str, str] = field(default_factory=dict)


class TaskLogGroup(pulumi.ComponentResource):
    """The durable task-log group; ``grant`` lets an Airflow component's role write or read it."""

    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, name: str, args: TaskLogGroupArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("batch-platform:infra:TaskLogGroup", name, None, opts)
        group = service_log_group(
            f"{name}-group",
            name=args.name,
            retention_in_days=args.retention_days,
            tags={"Name": args.name, "durable": "true", **args.tags},
            parent=self,
        )
        self._name = name
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        # Built from the name (the group's ``arn`` output has varied in form across provider versions).
        self.arn = pulumi.Output.all(partition, account, group.name).apply(
            lambda v: log_group_arn(v[0], args.region, v[1], v[2])
        )
        self.name = group.name
        self.register_outputs({"arn": self.arn, "name": self.name})

    def grant(self, component: str, role_arn: pulumi.Input[str], *, write: bool) -> aws.iam.RolePolicy:
        return aws.iam.RolePolicy(
            f"{self._name}-{component.replace('_', '-')}",
            role=pulumi.Output.from_input(role_arn).apply(lambda arn: arn.split("/")[-1]),
            policy=self.arn.apply(lambda arn: task_log_policy(arn, write=write)),
            opts=pulumi.ResourceOptions(parent=self),
        )
