"""The job spec schema: what it accepts, and errors that name the file, the field and the value."""

from __future__ import annotations

import pytest

from batch_platform.spec import SpecError, load_spec, parse_spec_data, slug, spec_to_data

MINIMAL = {"name": "ops.cleanup", "image": "img:1", "command": ["cleanup"]}


def test_minimal_spec_gets_safe_defaults():
    spec = parse_spec_data(MINIMAL, "jobs/ops.cleanup.yaml")
    assert spec.max_active_runs == 1 and spec.retries == 0 and spec.timeout_minutes == 180
    assert spec.schedule is None and spec.paused is False
    assert spec.hash_seed == "ops.cleanup"
    assert spec_to_data(spec) == MINIMAL


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"name": "Ops Cleanup"}, ["field 'name'", "'Ops Cleanup'"]),
        ({"name": "other"}, ["field 'name'", "must equal the file name 'ops.cleanup'"]),
        ({"command": []}, ["field 'command'"]),
        ({"image": "has space"}, ["field 'image'"]),
        ({"max_active_runs": 0}, ["field 'max_active_runs'", "greater than or equal to 1"]),
        ({"timeout_minutes": 0}, ["field 'timeout_minutes'"]),
        ({"env": {"1BAD": "x"}}, ["field 'env.1BAD"]),
        ({"env_from_secrets": ["Not_A_Secret"]}, ["field 'env_from_secrets.0'", "'Not_A_Secret'"]),
        ({"secret_env": [{"name": "PW", "secret": "s"}]}, ["field 'secret_env.0.key'", "required"]),
        ({"params": [{"name": "A", "type": "choice", "choices": ["x"], "default": "y"}]}, ["field 'params.0'", "not one of the choices"]),
        ({"params": [{"name": "A", "type": "boolean", "default": "yes"}]}, ["field 'params.0'", "true/false"]),
        ({"params": [{"name": "A", "type": "string", "choices": ["x"]}]}, ["only allowed for type 'choice'"]),
        ({"params": [{"name": "A"}], "env": {"A": "1"}}, ["used twice", "'A'"]),
        ({"notifications": {"email": {"to": ["not-an-address"]}}}, ["field 'notifications.email.to.0'"]),
        ({"resources": {"requests": {"cpu": "lots"}}}, ["field 'resources.requests.cpu'", "'lots'"]),
        ({"resources": {"requests": {"memory": "4Gi"}, "limits": {"memory": "2048Mi"}}},
         ["field 'resources'", "memory request 4Gi is above its limit 2048Mi"]),
        ({"triggers": [{"dag_id": "x", "when": "sometimes"}]}, ["field 'triggers.0.when'", "'sometimes'"]),
        ({"schedule": {"cron": ["0 0 * * MON"]}}, ["field 'schedule.cron.0'", "'M'"]),
        ({"schedule": {"cron": ["TZ=UTC"]}}, ["field 'schedule.cron.0'", "timezone"]),
        ({"schedule": {"cron": []}}, ["field 'schedule.cron'"]),
        ({"schedule": {"cron": ["@daily"], "timezone": "Mars/Olympus"}}, ["field 'schedule.timezone'", "IANA"]),
        ({"retrys": 3}, ["field 'retrys'", "unknown field"]),
    ],
)
def test_bad_fields_are_named(change, fragments):
    with pytest.raises(SpecError) as info:
        parse_spec_data({**MINIMAL, **change}, "jobs/ops.cleanup.yaml")
    message = str(info.value)
    assert message.startswith("invalid job spec jobs/ops.cleanup.yaml: ")
    for fragment in fragments:
        assert fragment in message


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="x.yaml: expected a mapping"):
        load_spec(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("name: x\nimage: [a\n")
    with pytest.raises(SpecError, match=r"x.yaml: not valid YAML at line \d+"):
        load_spec(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SpecError, match="nope.yaml: cannot read the file"):
        load_spec(tmp_path / "nope.yaml")


def test_hash_seed_prefers_the_jenkins_full_name():
    spec = parse_spec_data({**MINIMAL, "jenkins": {"full_name": "ops/cleanup"}}, "jobs/ops.cleanup.yaml")
    assert spec.hash_seed == "ops/cleanup"
    spec = parse_spec_data(
        {**MINIMAL, "schedule": {"cron": ["H * * * *"], "hash_seed": "legacy"}}, "jobs/ops.cleanup.yaml"
    )
    assert spec.hash_seed == "legacy"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("team-a/nightly/export", "team-a.nightly.export"), ("My Job (old)", "my-job-old"), ("///", "job")],
)
def test_slug(text, expected):
    assert slug(text) == expected


def test_security_defaults_are_non_root_with_no_token():
    security = parse_spec_data(MINIMAL, "jobs/ops.cleanup.yaml").security
    assert (security.run_as_user, security.run_as_group, security.effective_fs_group) == (65532, 65532, 65532)
    assert security.service_account_token is False and security.read_only_root_filesystem is True
    assert security.writable_paths == []


def test_a_spec_may_pick_its_uid_gid_and_writable_paths():
    data = {**MINIMAL, "security": {"run_as_user": 1000, "run_as_group": 1001, "writable_paths": ["/app/logs"]}}
    spec = parse_spec_data(data, "jobs/ops.cleanup.yaml")
    assert (spec.security.run_as_user, spec.security.effective_fs_group) == (1000, 1001)
    assert spec_to_data(spec)["security"] == {"run_as_user": 1000, "run_as_group": 1001, "writable_paths": ["/app/logs"]}


@pytest.mark.parametrize(
    ("security", "fragments"),
    [
        ({"run_as_user": 0}, ["field 'security.run_as_user'", "got 0", "'restricted'", "Running as Non-root user"]),
        ({"run_as_group": 0}, ["field 'security.run_as_group'", "got 0", "Running as Non-root user"]),
        ({"fs_group": 0}, ["field 'security.fs_group'", "got 0"]),
        ({"run_as_user": -1}, ["field 'security.run_as_user'", "got -1"]),
        ({"allow_privilege_escalation": True},
         ["field 'security.allow_privilege_escalation'", "got True", "'Privilege Escalation'", "allowPrivilegeEscalation: false"]),
        ({"add_capabilities": ["NET_ADMIN"]},
         ["field 'security.add_capabilities'", "['NET_ADMIN']", "'Capabilities'", "drop: [ALL]"]),
        ({"privileged": True}, ["field 'security.privileged'", "'Privileged Containers'"]),
        ({"writable_paths": ["logs"]}, ["field 'security.writable_paths.0'", "'logs'", "absolute"]),
        ({"writable_paths": ["/"]}, ["field 'security.writable_paths.0'"]),
        ({"writable_paths": ["/app/../etc"]}, ["field 'security.writable_paths.0'", "'..'"]),
        ({"writable_paths": ["/var/run/secrets/eks.amazonaws.com"]}, ["field 'security.writable_paths.0'", "hide"]),
        ({"writable_paths": ["/app/logs", "/proc"]}, ["field 'security.writable_paths.1'", "/proc"]),
        ({"run_as_root": True}, ["field 'security.run_as_root'", "unknown field"]),
    ],
)
def test_a_spec_asking_for_privileges_is_refused_with_the_rule(security, fragments):
    with pytest.raises(SpecError) as info:
        parse_spec_data({**MINIMAL, "security": security}, "jobs/ops.cleanup.yaml")
    message = str(info.value)
    assert message.startswith("invalid job spec jobs/ops.cleanup.yaml: ")
    for fragment in fragments:
        assert fragment in message, message
