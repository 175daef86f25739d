"""``python -m stacks plan <stack> --compare <saved.json>``: what a change touches, from two saved plans."""

from __future__ import annotations

import json

import pytest

from stacks.cli import main
from stacks.offline.compare import compare_documents, render_comparison


def saved_plan(stack: str, capsys, path, *argv: str) -> dict:
    assert main([*argv, "plan", stack, "--json"]) == 0
    text = capsys.readouterr().out
    path.write_text(text, encoding="utf-8")
    return json.loads(text)


def test_an_unchanged_stack_compares_empty(tmp_path, capsys):
    saved = tmp_path / "dev.json"
    saved_plan("dev", capsys, saved)
    assert main(["plan", "dev", "--compare", str(saved)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "No resource added, removed or changed."


def test_two_saved_plans_show_added_removed_and_changed_inputs(tmp_path, capsys, stack_copy):
    """dev saved, then dev with a third AZ and other batch instance types, compared in both directions."""
    before = tmp_path / "before.json"
    old = saved_plan("dev", capsys, before)
    root = stack_copy(
        "dev", {"network.az_count": 3, "cluster.node_groups.batch.instance_types": ["m7i.large"]}
    )
    after = tmp_path / "after.json"
    new = saved_plan("dev", capsys, after, "--project-dir", str(root))

    assert main(["--project-dir", str(root), "plan", "dev", "--compare", str(before)]) == 0
    text = capsys.readouterr().out
    # The sixth change: PgBouncer's egress NetworkPolicy admits the new zone's database subnet.
    assert "8 added, 0 removed, 6 changed." in text
    assert "  ~ kubernetes:networking.k8s.io/v1:NetworkPolicy  dev-airflow-networkpolicy-airflow-pgbouncer-database-egress" in text
    assert "  + aws:ec2/subnet:Subnet  dev-network-private-c" in text
    assert "  ~ aws:eks/nodeGroup:NodeGroup  dev-cluster-batch" in text
    assert "      instanceTypes.0: m6i.large -> m7i.large" in text
    assert "      instanceTypes.1: m6a.large -> (unset)" in text

    # The other way round, from the two files alone: what was added is now removed.
    backwards = compare_documents(new, old)
    assert [r["name"] for r in backwards.removed] == [r["name"] for r in compare_documents(old, new).added]
    assert "0 added, 8 removed, 6 changed." in render_comparison(backwards, str(after))


def test_the_json_form_lists_paths_with_old_and_new_values(tmp_path, capsys, stack_copy):
    before = tmp_path / "before.json"
    saved_plan("dev", capsys, before)
    root = stack_copy("dev", {"cluster.node_groups.system.max_size": 4})
    assert main(["--project-dir", str(root), "plan", "dev", "--compare", str(before), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["added"] == [] and document["removed"] == []
    [group] = document["changed"]
    assert group["name"] == "dev-cluster-system"
    assert group["inputs"] == [{"path": "scalingConfig.maxSize", "old": 3, "new": 4}]


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "cannot read the saved plan"),
        ("{not json", "not JSON (line 1, column 2"),
        ('{"resources": []}', 'not an offline plan document (no "offline": true and "resources" list)'),
        ('{"offline": true, "resources": [{"type": "t"}]}', "resources[0] has no urn, type and name strings"),
    ],
)
def test_a_bad_saved_plan_exits_2_naming_the_file_before_the_plan_runs(tmp_path, capsys, content, expected):
    saved = tmp_path / "saved.json"
    if content is not None:
        saved.write_text(content, encoding="utf-8")
    assert main(["plan", "dev", "--compare", str(saved)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {saved}: ") and expected in captured.err
