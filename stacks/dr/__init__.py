"""Disaster-recovery rehearsal: destroy a stack, recreate it from a snapshot, and prove nothing was lost.

* ``pulumi_ops``: the narrow interface the rehearsal needs from Pulumi, on the Automation API
  (also used for node patching), including the repair of a state an interrupted command left.
* ``pulumi_cli``: runs the Pulumi CLI so that Ctrl-C cancels it gracefully.
* ``aws_ops``: the AWS calls (RDS snapshots and waiters, quotas, automated backups, S3 canary
  objects, the retained bucket and secrets still being there, the UI's DNS record), through boto3.
* ``airflow_api``: the Airflow 3 REST API calls (health, DAG runs, pausing DAGs, running tasks, the
  canary Variable, task logs).
* ``point_in_time``: the ``--point-in-time`` restore.
* ``cleanup``: ``--cleanup``, the only code that deletes snapshots and backups, on confirmation.
* ``rehearsal``: the phases, the state file (``state``) that makes a failed or interrupted run
  resumable, and the report (``report``).

``python -m stacks dr-rehearsal <stack>`` (``stacks.cli``) wires the real implementations together.
"""
