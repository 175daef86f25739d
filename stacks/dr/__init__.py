"""Disaster-recovery rehearsal: destroy a stack, recreate it from a snapshot, and prove nothing was lost.

* ``pulumi_ops``: the narrow interface the rehearsal needs from Pulumi, on the Automation API.
* ``aws_ops``: the AWS calls (RDS snapshots and waiters, S3 canary objects, the retained bucket and
  secrets still being there), through boto3.
* ``airflow_api``: the Airflow 3 REST API calls (health, DAG run count, the canary Variable).
* ``rehearsal``: the phases, the state file that makes a failed run resumable, and the report.

``python -m stacks dr-rehearsal <stack>`` (``stacks.cli``) wires the real implementations together.
"""
