"""``python -m stacks patch-nodes``: the Automation API calls, the records, the proof, idempotence and resume."""

from __future__ import annotations

import json

from stacks.patching.kube import KubeError
from tests.patching.conftest import NEW, OLD

def target(world, stack, role):
    text = world.record(stack, role)
    return json.loads(text).get("target") if text else None


def entries(world, stack, role):
    text = world.record(stack, role)
    return [(e["release"], e["outcome"]) for e in json.loads(text)["entries"]] if text else []


def test_dev_rolls_to_a_new_release_and_records_its_proof(world):
    world.clock.advance(86400)
    world.publish(NEW)
    assert world.run("patch-nodes", "dev") == 0, world.text
    dev = world.stacks["dev"]
    # The decision travels in the record (its target), not in the stack file: one up, no config change.
    assert dev.mutations() == [("up",)]
    assert target(world, "dev", "batch") == target(world, "dev", "system") == NEW
    assert entries(world, "dev", "batch") == [(NEW, "proven")]
    assert entries(world, "dev", "system") == [(NEW, "proven")]
    record = json.loads(world.record("dev", "batch"))["entries"][0]
    assert record["at"] == world.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ") and record["published"]
    canary = [c for c in world.kube.calls if c[0] == "run_canary"]
    assert canary == [("run_canary", "batch-jobs", "node-patching-canary-1-35-4-20260815")]
    assert "batch: " + NEW + " proven" in world.text
    assert world.stacks["prod"].calls == []


def test_a_rerun_with_nothing_to_do_says_so_and_changes_nothing(world):
    world.publish(NEW)
    assert world.run("patch-nodes", "dev") == 0
    before = list(world.stacks["dev"].mutations())
    assert world.run("patch-nodes", "dev") == 0
    assert "dev: nothing to do" in world.text
    assert world.stacks["dev"].mutations() == before


def test_dry_run_decides_and_changes_nothing(world):
    world.publish(NEW)
    assert world.run("patch-nodes", "dev", "--dry-run") == 0
    assert f"would roll system to {NEW}" in world.text and f"would roll batch to {NEW}" in world.text
    assert world.stacks["dev"].mutations() == [] and world.record("dev", "batch") is None


def test_prod_takes_the_release_only_after_the_soak(world):
    world.publish(NEW)
    assert world.run("patch-nodes", "dev") == 0
    world.clock.advance(2 * 86400)
    assert world.run("patch-nodes", "prod") == 0, world.text
    assert world.stacks["prod"].mutations() == [] and "still soaking" in world.text
    # What prod runs is recorded as its target: a plain `pulumi up` now keeps it instead of following AWS.
    assert target(world, "prod", "system") == OLD
    # Meanwhile prod proved the release it runs (nothing was recorded for it): no roll, no up.
    world.clock.advance(1.1 * 86400)
    assert world.run("patch-nodes", "prod") == 0, world.text
    assert world.stacks["prod"].mutations() == [("up",)]
    assert target(world, "prod", "batch") == NEW
    # prod had first proved (and recorded) the release it ran, then the new one.
    assert entries(world, "prod", "batch") == [(OLD, "proven"), (NEW, "proven")]


def test_a_failed_proof_is_recorded_and_prod_never_takes_it(world):
    world.publish(NEW)
    world.kube.canary_fails = True
    assert world.run("patch-nodes", "dev") == 1
    assert entries(world, "dev", "batch") == [(NEW, "failed")]
    assert "BackoffLimitExceeded" in json.loads(world.record("dev", "batch"))["entries"][0]["detail"]
    world.clock.advance(10 * 86400)
    assert world.run("patch-nodes", "prod") in (0, 1)
    assert world.stacks["prod"].mutations() == []


def test_a_pin_set_by_hand_wins(world):
    world.publish(NEW)
    world.edit("dev", lambda c: c["batch-platform:cluster"]["node_groups"]["batch"].update(ami_release_version=OLD))
    assert world.run("patch-nodes", "dev") == 0, world.text
    assert world.stacks["dev"].mutations() == [("up",)]
    assert "pinned by hand to " + OLD in world.text
    # The pinned group gets no target of the procedure's: the pin is the only word on it.
    assert target(world, "dev", "batch") is None and target(world, "dev", "system") == NEW


def test_a_blocking_budget_stops_the_run_before_any_change(world):
    from stacks.patching.preflight import BlockingPdb

    world.publish(NEW)
    world.kube.pdbs = [BlockingPdb("airflow", "airflow-scheduler", 0, ("airflow-scheduler-0",))]
    assert world.run("patch-nodes", "dev") == 1
    assert "PodDisruptionBudget airflow/airflow-scheduler allows 0 disruptions" in world.text
    assert "preflight failed: nothing was changed" in world.text
    assert world.stacks["dev"].mutations() == [] and world.record("dev", "batch") is None
    # Force is explicit config: with it on, the roll goes ahead (and the program sends force_update_version).
    world.edit("dev", lambda c: c["batch-platform:cluster"].update(patching={"force": True}))
    assert world.run("patch-nodes", "dev") == 0, world.text
    assert "preflight warning" in world.text


def test_an_update_in_progress_stops_the_run(world):
    world.publish(NEW)
    world.in_progress[None] = ["4f0e-cluster"]
    assert world.run("patch-nodes", "dev") == 1
    assert "an update is already in progress: VersionUpdate 4f0e-cluster of cluster batch-platform-dev" in world.text
    assert {"operation": "ListUpdates", "name": "batch-platform-dev", "nodegroupName": "batch-2026dev"} in world.update_calls
    assert world.stacks["dev"].mutations() == []


def test_a_failed_up_leaves_the_release_rolling_and_the_next_run_retries(world):
    world.publish(NEW)
    world.stacks["dev"].fail_up = "error: PodEvictionFailure: Reached max retries while trying to evict pods"
    assert world.run("patch-nodes", "dev") == 1
    assert "pulumi up failed: error: PodEvictionFailure" in world.text
    assert target(world, "dev", "batch") == NEW  # a plain `pulumi up` would retry the same release
    assert entries(world, "dev", "batch") == [(NEW, "rolling")]
    world.stacks["dev"].fail_up = None
    assert world.run("patch-nodes", "dev") == 0, world.text
    assert entries(world, "dev", "batch") == [(NEW, "proven")]


def test_an_interrupted_proof_resumes_without_rolling_again(world):
    world.publish(NEW)
    calls = {"n": 0}
    original = world.kube.run_canary

    def flaky(manifest, timeout):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KubeError("reading the canary Job batch-jobs/x: 503 Service Unavailable")
        return original(manifest, timeout)

    world.kube.run_canary = flaky
    assert world.run("patch-nodes", "dev") == 1
    assert entries(world, "dev", "batch") == [(NEW, "rolling")]
    ups = world.stacks["dev"].mutations().count(("up",))
    assert world.run("patch-nodes", "dev") == 0, world.text
    assert "prove" in world.text and world.stacks["dev"].mutations().count(("up",)) == ups
    assert entries(world, "dev", "batch") == [(NEW, "proven")]


def test_a_canary_on_a_node_older_than_the_roll_does_not_prove_it(world):
    world.publish(NEW)
    world.kube.canary_on_group = "system-2026dev"
    assert world.run("patch-nodes", "dev") == 1
    assert "expected the batch group batch-2026dev" in world.text
    assert entries(world, "dev", "batch") == [(NEW, "failed")]


def test_unhealthy_airflow_after_the_roll_fails_the_proof(world):
    world.publish(NEW)
    original = world.kube.unhealthy_workloads
    seen = {"n": 0}

    def after_roll(namespace):
        seen["n"] += 1
        return [] if seen["n"] == 1 else ["Deployment airflow/airflow-api-server has 1/2 ready replicas"]

    world.kube.unhealthy_workloads = after_roll
    assert world.run("patch-nodes", "dev") == 1
    assert entries(world, "dev", "system") == [(NEW, "failed")]
    assert original("airflow") == []
