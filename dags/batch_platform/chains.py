"""Job chains: what links one job's DAG to another's.

Two Jenkins mechanisms, two Airflow ones:

- A job that starts others (``BuildTrigger``, parameterized-trigger, pipeline ``build job:``) gets one
  ``TriggerDagRunOperator`` per downstream job after its batch task: the trigger rule says on which result,
  ``wait`` makes it wait for the downstream run (deferred, so no worker slot is held), ``propagate`` makes
  this run fail when the downstream run fails.
- A job that runs after others (``ReverseBuildTrigger``, pipeline ``upstream``) is scheduled on their
  Assets: every batch task emits its job's Asset when it succeeds, and ``after: [a, b]`` schedules the DAG
  on ``a | b`` (Jenkins starts the job after any of them), together with its cron schedule if it has one.
"""

from __future__ import annotations

from typing import Any

ASSET_URI_PREFIX = "batch-platform://jobs/"
TRIGGER_RULES = {"success": "all_success", "failure": "all_failed", "always": "all_done"}


def job_asset(dag_id: str):
    """The Asset a job's batch task emits on success."""
    from airflow.sdk import Asset

    return Asset(name=f"batch-job-{dag_id}", uri=ASSET_URI_PREFIX + dag_id)


def schedule(timetable: Any, after: list[str]) -> Any:
    """The DAG's schedule: its timetable, the upstream jobs' Assets, or both."""
    if not after:
        return timetable
    from airflow.sdk import AssetAny

    assets = AssetAny(*(job_asset(name) for name in after))
    if timetable is None:
        return assets
    from airflow.sdk import AssetOrTimeSchedule

    return AssetOrTimeSchedule(timetable=timetable, assets=assets)


def trigger_task_id(dag_id: str) -> str:
    return f"trigger_{dag_id.replace('.', '_').replace('-', '_')}"


def trigger_kwargs(trigger) -> dict[str, Any]:
    """TriggerDagRunOperator arguments for one DownstreamTrigger of a spec."""
    kwargs: dict[str, Any] = {
        "task_id": trigger_task_id(trigger.dag_id),
        "trigger_dag_id": trigger.dag_id,
        "conf": dict(trigger.conf),
        "trigger_rule": TRIGGER_RULES[trigger.when],
        "wait_for_completion": trigger.wait,
    }
    if trigger.wait:
        kwargs.update(
            deferrable=True,
            poke_interval=30,
            allowed_states=["success"] if trigger.propagate else ["success", "failed"],
            failed_states=["failed"] if trigger.propagate else [],
        )
    return kwargs
