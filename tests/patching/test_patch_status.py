"""``python -m stacks patch-status``: offline against recorded answers (moto), the output, the exit code, the metric."""

from __future__ import annotations

from datetime import timedelta

from stacks.patching.aws import METRIC_NAME, METRIC_NAMESPACE

from tests.patching.conftest import NEW, OLD, session


def test_status_of_a_current_stack_exits_0(world):
    assert world.run("patch-status", "dev") == 0, world.text
    text = world.text
    assert text.startswith("stack dev: takes the newest release AWS recommends; alarm past 10 days of lag")
    assert "batch (batch-2026dev):" in text and f"  running          {OLD}" in text
    assert "  lag              0.0 days" in text
    # Nothing proven yet: the next action is the proof.
    assert "next action      prove" in text
    assert world.stacks["dev"].calls == []  # no Pulumi at all


def test_status_shows_the_lag_and_alarms_past_max_lag_days(world):
    published = world.clock.now()
    world.publish(NEW, published)
    world.clock.advance(11 * 86400)
    assert world.run("patch-status", "prod") == 1
    text = world.text
    assert "stack prod: takes releases proven in dev for 3 days; alarm past 10 days of lag" in text
    assert f"  newest available {NEW} (since {published:%Y-%m-%d %H:%M}Z)" in text
    assert "  proven in dev    none" in text
    assert "  lag              11.0 days > max 10: ALARM" in text
    assert "next action      prove: running" in text


def test_status_names_the_release_proven_in_dev_and_when(world):
    world.publish(NEW)
    assert world.run("patch-nodes", "dev") == 0
    proven = world.clock.now()
    world.clock.advance(timedelta(days=1).total_seconds())
    assert world.run("patch-status", "prod") == 0
    assert f"  proven in dev    {NEW} (proven {proven:%Y-%m-%d %H:%M}Z)" in world.text
    assert f"{NEW} is proven but still soaking (3 days)" in world.text


def test_status_publishes_the_lag_metric(world):
    world.publish(NEW)
    world.clock.advance(2 * 86400)
    assert world.run("patch-status", "dev", "--metric") == 0
    cloudwatch = session().client("cloudwatch")
    metrics = cloudwatch.list_metrics(Namespace=METRIC_NAMESPACE, MetricName=METRIC_NAME)["Metrics"]
    dimensions = sorted(tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in metrics)
    assert dimensions == [
        (("NodeGroup", "batch"), ("Stack", "dev")),
        (("NodeGroup", "system"), ("Stack", "dev")),
    ]


def test_a_stack_that_is_not_deployed_is_reported(world, capsys):
    eks = session().client("eks")
    for group in ("system-2026dev", "batch-2026dev"):
        eks.delete_nodegroup(clusterName="batch-platform-dev", nodegroupName=group)
    assert world.run("patch-status", "dev") == 2
    assert capsys.readouterr().err == (
        "error: cluster batch-platform-dev has no node group labelled workload=system: is the stack deployed?\n"
    )
