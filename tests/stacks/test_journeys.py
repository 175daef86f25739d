"""The users' journeys, in the order they happen, each run against the account as that step finds it.

(a) first ``up`` on an empty account; (b) a first ``up`` that failed midway, then the retry; (c) a
second ``up`` with nothing changed, the lookups answering as on a second run; (d) day-2 changes, each
touching only what it should; (e) destroy, then recreate from a snapshot. The account at each step is
built by ``tests/stacks/worlds.py`` from the previous step's plan; the plans are compared with the same
code as ``python -m stacks plan <stack> --compare`` (``stacks.offline.compare``).
"""

from __future__ import annotations

import pytest

from infra import versions
from infra.airflow_image import checkout_tag
from infra.cluster_access import CREATOR_TAG
from stacks.offline import Plan, canned, run_plan
from stacks.offline.compare import compare_documents
from tests.stacks.worlds import CI, OPERATOR, document, world_after

SECRET = "aws:secretsmanager/secret:Secret"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
K8S_SECRET = "kubernetes:core/v1:Secret"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
RELEASE = "kubernetes:helm.sh/v3:Release"
EKS = "eks:index:Cluster"

# Retained on destroy without an import: their create is a PUT that overwrites what the destroyed
# stack left (ECR PutLifecyclePolicy, S3 PutBucket* configuration calls), so adoption is implicit.
OVERWRITTEN_ON_CREATE = {
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
}


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def first(stack) -> Plan:
    """(a) The first up on an empty account, run by an operator's session."""
    return run_plan(stack, invokes=canned.caller_identity(OPERATOR))


@pytest.fixture(scope="module")
def second(stack, first) -> Plan:
    """(c) The second up: the image was pushed and the git key set after the first one."""
    return run_plan(stack, invokes=world_after(first))


def release(plan: Plan):
    return plan.one(RELEASE, f"{plan.stack}-airflow-release")


def chart_secret_names(values: dict) -> set[str]:
    """Every Kubernetes Secret the Airflow chart's pods mount or read, from the values we give it."""
    names = {
        values["data"]["metadataSecretName"],
        values["fernetKeySecretName"],
        values["apiSecretKeySecretName"],
        values["jwtSecretName"],
        values["pgbouncer"]["configSecretName"],
        values["pgbouncer"]["metricsExporterSidecar"]["statsSecretName"],
    }
    git = values["dags"]["gitSync"]
    if git.get("enabled") and git.get("sshKeySecret"):
        names.add(git["sshKeySecret"])
    return names


def registered_secrets(plan: Plan, namespace: str = "airflow") -> set[str]:
    return {r.input("metadata.name") for r in plan.of_type(K8S_SECRET) if r.input("metadata.namespace") == namespace}


def only_imports(comparison) -> bool:
    return all(not r.inputs and [c.path for c in r.options] == ["importId"] for r in comparison.changed)


# --- (a) first up on an empty account --------------------------------------------------------------------


def test_a_first_up_creates_everything_and_adopts_nothing(first):
    assert [r.name for r in first.resources if r.options["importId"]] == []
    # Neither the image (its repository is new) nor the git key (no value yet) can exist: no wait.
    assert release(first).input("skipAwait") is True
    assert first.one(EKS).input("clusterTags") == {CREATOR_TAG: "123456789012:role/platform-operator"}


def test_a_nothing_the_chart_mounts_is_left_to_be_made_by_hand(first):
    """Everything in-cluster the pods need is registered by the stack: nothing lives only in the cluster."""
    values = release(first).raw_inputs["values"]
    assert chart_secret_names(values) <= registered_secrets(first)


def test_a_ordering_the_release_waits_for_what_its_pods_need(first):
    depends = set(release(first).options["dependsOn"])
    needed = {r.urn for r in first.of_type(K8S_SECRET) if r.input("metadata.namespace") == "airflow"}
    needed |= {r.urn for r in first.of_type(NODE_GROUP) if r.name.endswith("-system")}
    needed |= {r.urn for r in first.of_type("aws:eks/addon:Addon") if r.input("addonName") == "coredns"}
    assert needed <= depends
    # EKS writes its logs to our group only if the group exists first.
    eks = first.one(EKS)
    group = first.one("aws:cloudwatch/logGroup:LogGroup", f"{first.stack}-cluster-control-plane")
    assert group.urn in eks.options["dependsOn"]


# --- (b) a first up that failed midway, then the retry ---------------------------------------------------


def test_b_the_retry_completes_adopts_what_was_made_and_says_what_is_missing(stack, first):
    """The first up died after creating the repository, the cluster, two of the Airflow secrets (one
    without its value) and the log groups: the retry adopts those, creates the rest, and does not wait."""
    prefix = f"batch-platform/{stack}/airflow"
    world = world_after(
        first,
        image_pushed=False,
        git_key_set=False,
        exclude_secrets=(f"{prefix}/jwt-secret", f"{prefix}/admin-password"),
        empty_secrets=(f"{prefix}/api-secret-key",),
    )
    retry = run_plan(stack, invokes=world)
    imported = {r.name for r in retry.resources if r.options["importId"]}
    assert f"{stack}-airflow-secrets-fernet-key" in imported and f"{stack}-airflow-image-repository" in imported
    assert f"{stack}-airflow-secrets-jwt-secret" not in imported
    # The secret that exists without a value is adopted, and its value generated as on creation.
    versions_ = {r.name: r for r in retry.of_type(VERSION)}
    assert versions_[f"{stack}-airflow-secrets-api-secret-key"].options["importId"] is None
    assert f"{stack}-airflow-secrets-api-secret-key" in {r.name for r in retry.of_type(SECRET) if r.options["importId"]}
    assert release(retry).input("skipAwait") is True
    messages = " ".join(retry.warnings)
    assert f"Still missing: the image {checkout_tag()}" in messages and "Still missing: the key" in messages
    # Apart from adopting, the retry registers exactly what the first attempt did.
    comparison = compare_documents(document(first), document(retry))
    assert (comparison.added, comparison.removed) == ([], [])
    assert only_imports(comparison)


# --- (c) a second up with no change ------------------------------------------------------------------------


def test_c_the_second_up_only_starts_waiting_for_the_release(first, second):
    """Lookups now answer "exists" (cluster, creator tag, node groups, secrets, repository, image): none
    of them changes what is registered; only the release, whose image and key now exist, waits (and
    its pods carry the key's version, so they restart with the key), its image, which has a digest
    now, runs by that digest (the digest the image lookup answered), and its migration and create-user
    Jobs, left out while the image could not exist, are created."""
    comparison = compare_documents(document(first), document(second))
    assert (comparison.added, comparison.removed) == ([], [])
    inputs = {(r.name, c.path, c.old, c.new) for r in comparison.changed for c in r.inputs}
    [lookup] = [i for i in second.invokes if i.token == "aws:ecr/getImages:getImages"]
    repository = lookup.args["repositoryName"]
    answer = world_after(first, image_pushed=True, git_key_set=True)["aws:ecr/getImages:getImages"](
        {"repositoryName": repository}, "eu-west-1"
    )
    [digest] = [i["imageDigest"] for i in answer["imageIds"] if i["imageTag"] == checkout_tag()]
    assert inputs == {
        (f"{first.stack}-airflow-release", "values.defaultAirflowDigest", None, digest),
        (f"{first.stack}-airflow-release", "values.config.kubernetes_executor.worker_container_tag", None,
         f"{checkout_tag()}@{digest}"),
        (f"{first.stack}-airflow-release", "skipAwait", True, False),
        # The chart's Jobs are created now, by digest: created by the first up, they would have been
        # Jobs whose pod template this update changes, which Kubernetes refuses.
        (f"{first.stack}-airflow-release", "values.migrateDatabaseJob.enabled", False, True),
        (f"{first.stack}-airflow-release", "values.createUserJob.enabled", False, True),
        (
            f"{first.stack}-airflow-release",
            "values.airflowPodAnnotations.batch-platform/git-ssh-key-version",
            None,
            canned.OFFLINE_VERSION_ID,
        ),
    }
    assert all([c.path for c in r.options] in ([], ["importId"]) for r in comparison.changed)


def test_c_adoption_import_ids_are_the_ids_the_resources_already_have(second):
    """An import ID equal to the resource's ID in the state is a no-op (the engine imports only a
    resource it does not have, or has under another ID): each must be the physical ID."""
    for r in second.resources:
        import_id = r.options["importId"]
        if import_id is None:
            continue
        if r.type == SECRET:
            assert import_id == f"arn:aws:secretsmanager:eu-west-1:{canned.ACCOUNT_ID}:secret:{r.input('name')}-offline"
        elif r.type == VERSION:
            assert import_id.endswith(f"|{canned.OFFLINE_VERSION_ID}")
        elif r.type == "aws:s3/bucket:Bucket":
            assert import_id == r.input("bucket")
        else:
            assert import_id == r.input("name"), r.name


def test_c_a_third_up_by_someone_else_after_the_autoscaler_moved_changes_nothing(second):
    world = world_after(second, caller=CI, desired_sizes={"system": second.config.cluster.node_groups.system.max_size, "batch": 2})
    third = run_plan(second.stack, invokes=world)
    assert compare_documents(document(second), document(third)).empty


# --- (d) day-2 changes ----------------------------------------------------------------------------------------


def day2(second: Plan, stack_copy, edits: dict, name: str, invokes: dict | None = None):
    root = stack_copy(second.stack, edits, name=name)
    changed = run_plan(second.stack, root, invokes={**world_after(second), **(invokes or {})})
    return compare_documents(document(second), document(changed))


def changes(comparison) -> dict[str, set[str]]:
    return {r.name: {c.path for c in r.inputs} | {f"option {c.path}" for c in r.options} for r in comparison.changed}


def test_d_raising_min_size_touches_only_that_group(second, stack_copy):
    group = second.config.cluster.node_groups.system
    raised = group.min_size + 1
    comparison = day2(
        second,
        stack_copy,
        {
            "cluster.node_groups.system.min_size": raised,
            "cluster.node_groups.system.desired_size": raised,
            "cluster.node_groups.system.max_size": max(group.max_size, raised),
        },
        "min-size",
    )
    assert (comparison.added, comparison.removed) == ([], [])
    name = f"{second.stack}-cluster-system"
    assert set(changes(comparison)) == {name}
    assert {"scalingConfig.minSize", "scalingConfig.desiredSize", "option ignoreChanges.0"} <= changes(comparison)[name]


def test_d_adding_an_availability_zone_adds_its_subnets_and_moves_nothing(second, stack_copy):
    count = second.config.network.az_count
    # The offline lookup answers eu-west-1's real zones (3): prod's fourth AZ needs a region that has one.
    zones = [f"eu-west-1{letter}" for letter in "abcd"]
    more_zones = {
        "aws:index/getAvailabilityZones:getAvailabilityZones": lambda args, region: {
            "names": zones, "zoneIds": [f"euw1-az{i + 1}" for i in range(len(zones))], "state": args.get("state"), "id": region,
        }
    }
    comparison = day2(second, stack_copy, {"network.az_count": count + 1}, "add-az", invokes=more_zones)
    added = {r["type"] for r in comparison.added}
    assert {"aws:ec2/subnet:Subnet", "aws:ec2/routeTable:RouteTable", "aws:ec2/routeTableAssociation:RouteTableAssociation"} <= added
    assert sum(r["type"] == "aws:ec2/subnet:Subnet" for r in comparison.added) == 3  # public, private, database
    assert comparison.removed == []
    # Existing subnets keep their CIDRs and zones; the lists that name subnets only grow at the end.
    assert not [r for r in comparison.changed if r.type == "aws:ec2/subnet:Subnet"]
    for r in comparison.changed:
        for c in r.inputs:
            assert c.old is None, f"{r.name}.{c.path}: {c.old} -> {c.new} (an existing entry moved)"


def test_d_changing_instance_types_touches_only_that_group(second, stack_copy):
    comparison = day2(second, stack_copy, {"cluster.node_groups.batch.instance_types": ["m7i.2xlarge"]}, "types")
    assert (comparison.added, comparison.removed) == ([], [])
    [changed] = comparison.changed
    assert changed.name == f"{second.stack}-cluster-batch"
    assert {c.path.split(".")[0] for c in changed.inputs} == {"instanceTypes"}


def test_d_a_chart_bump_touches_only_the_release(second, monkeypatch):
    monkeypatch.setattr(versions, "AIRFLOW_CHART_VERSION", "1.99.0")
    bumped = run_plan(second.stack, invokes=world_after(second))
    comparison = compare_documents(document(second), document(bumped))
    assert changes(comparison) == {f"{second.stack}-airflow-release": {"version"}}


def test_d_a_kubernetes_minor_bump_moves_the_control_plane_nodes_addons_and_their_pins(second, stack_copy):
    older = stack_copy(second.stack, {"cluster.kubernetes_version": "1.34"}, name="k8s-older")
    before = run_plan(second.stack, older, invokes=world_after(second))
    comparison = compare_documents(document(before), document(second))
    assert (comparison.added, comparison.removed) == ([], [])
    stack = second.stack
    found = changes(comparison)
    assert {"version", "kubeProxyAddonOptions.version"} <= found[f"{stack}-cluster-eks"]
    for role in ("system", "batch"):
        assert found[f"{stack}-cluster-{role}"] == {"version", "releaseVersion"}
    assert found[f"{stack}-cluster-autoscaler"] == {"values.image.tag"}
    # Pod Security is evaluated at the new version's rules.
    assert all("version" in path for name in (f"{stack}-airflow-namespace", f"{stack}-batch-namespace") for path in found[name])
    assert set(found) <= {
        f"{stack}-cluster-eks", f"{stack}-cluster-system", f"{stack}-cluster-batch", f"{stack}-cluster-autoscaler",
        f"{stack}-airflow-namespace", f"{stack}-batch-namespace", f"{stack}-cluster-coredns", f"{stack}-cluster-ebs-csi",
        # The dashboard shows the node groups' AMI releases (infra/dashboard.py).
        f"{stack}-dashboard-dashboard",
    }
    # EKS upgrades the control plane before its node groups: the groups depend on the cluster.
    eks = second.one(EKS)
    assert all(eks.urn in g.options["dependsOn"] for g in second.of_type(NODE_GROUP))


# --- (e) destroy, then recreate from a snapshot ---------------------------------------------------------------


@pytest.fixture(scope="module")
def recreate(stack, second, tmp_path_factory):
    import shutil

    import yaml

    from stacks.config.loader import PROJECT_ROOT

    root = tmp_path_factory.mktemp(f"recreate-{stack}")
    shutil.copy(PROJECT_ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    document_ = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    document_["config"]["batch-platform:database"]["restore_from_snapshot"] = f"batch-platform-{stack}-airflow-dr-1"
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document_), encoding="utf-8")
    # The destroy deleted the cluster; what is retained is still in the account.
    return run_plan(stack, root, invokes=world_after(second, caller=CI, cluster=False))


def test_e_every_retained_object_is_adopted_or_overwritten(recreate):
    for r in recreate.resources:
        if r.options["retainOnDelete"]:
            assert r.options["importId"] or r.type in OVERWRITTEN_ON_CREATE, f"{r.type} {r.name} would collide"


def test_e_the_recreate_restores_the_database_and_gets_its_in_cluster_secrets_back(recreate):
    instance = recreate.one("aws:rds/instance:Instance")
    assert instance.input("snapshotIdentifier") == f"batch-platform-{recreate.stack}-airflow-dr-1"
    values = release(recreate).raw_inputs["values"]
    assert chart_secret_names(values) <= registered_secrets(recreate)
    # The git key comes back from Secrets Manager; the release can wait (image and key exist).
    [git] = [r for r in recreate.of_type(K8S_SECRET) if r.input("metadata.name") == "airflow-git-ssh"]
    assert git.raw_inputs["stringData"]["gitSshKey"].startswith("offline-existing-")
    assert release(recreate).input("skipAwait") is False
    # A new cluster, a new creator: whoever ran the recreate.
    assert recreate.one(EKS).input("clusterTags") == {CREATOR_TAG: "123456789012:role/platform-ci"}


def test_e_the_recreate_registers_what_the_stack_had(second, recreate):
    comparison = compare_documents(document(second), document(recreate))
    assert (comparison.added, comparison.removed) == ([], [])


def test_e_a_recreate_adopts_only_the_log_groups_still_there(stack, second):
    """After the destroy someone deleted some retained log groups (one of the four Container Insights
    groups kept, one of the two RDS exports) and made one of their own under the cluster's prefix: the
    recreate adopts exactly the groups that exist, creates the others, and leaves the stranger alone."""
    insights = f"/aws/containerinsights/batch-platform-{stack}/"
    rds = f"/aws/rds/instance/batch-platform-{stack}-airflow/"
    kept = [f"{insights}host", f"{rds}upgrade", f"/aws/vpc/{stack}-network/flow-logs"]
    world = {
        **world_after(second, caller=CI, cluster=False),
        **canned.log_groups_found([*kept, f"{insights}prometheus", f"{insights}application-archive"]),
    }
    recreate = run_plan(stack, invokes=world)
    groups = {r.input("name"): r.options["importId"] for r in recreate.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert {name for name, imported in groups.items() if imported} == set(kept)
    assert all(imported in (None, name) for name, imported in groups.items())
    assert f"{insights}application" in groups and f"{rds}postgresql" in groups
    assert f"{insights}prometheus" not in groups
    comparison = compare_documents(document(second), document(recreate))
    assert (comparison.added, comparison.removed) == ([], [])


def test_a_zone_impaired_during_an_aws_event_does_not_move_the_subnets(second):
    """A later run while AWS reports a zone's state as impaired: the zone lookup must answer as before."""
    healthy = canned.INVOKES["aws:index/getAvailabilityZones:getAvailabilityZones"]

    def during_event(args, region):
        answer = healthy(args, region)
        if args.get("state") == "available":  # the impaired zone is not "available"
            answer["names"] = [n for n in answer["names"] if n != f"{region}a"]
        return answer

    world = {**world_after(second), "aws:index/getAvailabilityZones:getAvailabilityZones": during_event}
    during = run_plan(second.stack, invokes=world)
    assert compare_documents(document(second), document(during)).empty
