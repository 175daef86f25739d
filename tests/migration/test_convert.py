"""config.xml reading and the job -> spec mapping, on the fixture jobs and on small inline cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from batch_platform.jenkins_cron import parse_spec
from migration.convert import FolderDefinition, Options, build_command, read_definition, to_spec_data
from migration.discover import Definition, discover, full_name_of_config
from migration.jenkins_xml import XmlError, parse_xml, read_config
from migration.model import ConversionError, JenkinsJob, ManualMigration, Param

FIXTURES = Path(__file__).parent / "fixtures"
HOME = FIXTURES / "jenkins_home"
OPTIONS = Options()


def definition(relative: str, full_name: str) -> Definition:
    path = FIXTURES / relative
    return Definition(path, full_name, "jenkinsfile" if path.name.endswith("Jenkinsfile") else "config.xml", relative)


def convert(relative: str, full_name: str, options: Options = OPTIONS) -> tuple[dict, JenkinsJob]:
    job = read_definition(definition(relative, full_name))
    return to_spec_data(job, options), job


def categories(job: JenkinsJob) -> list[str]:
    return sorted(issue.category for issue in job.issues)


# --- discovery -----------------------------------------------------------------------------------


def test_discovery_finds_jobs_folders_and_jenkinsfiles_with_full_names():
    found = {d.full_name: d for d in discover([HOME, FIXTURES / "jenkinsfiles"])}
    assert {"ledger-export", "team-a", "team-a/nightly", "team-a/nightly/export", "team-a/nightly/report",
            "billing-sync", "scripted"} <= set(found)
    assert not any("builds" in str(d.path) for d in found.values())


def test_discovery_lists_each_file_once_and_takes_single_files():
    once = discover([HOME / "jobs" / "ledger-export" / "config.xml", HOME / "jobs" / "ledger-export" / "config.xml"])
    assert [d.full_name for d in once] == ["ledger-export"]


def test_full_name_from_a_folder_tree():
    path = Path("/x/jobs/a/jobs/b/jobs/c/config.xml")
    assert full_name_of_config(path) == "a/b/c"
    assert full_name_of_config(Path("/somewhere/myjob/config.xml")) == "myjob"


def test_jenkinsfile_folder_option_prefixes_the_full_name():
    (found,) = discover([FIXTURES / "jenkinsfiles" / "billing-sync" / "Jenkinsfile"], jenkinsfile_folder="billing/")
    assert found.full_name == "billing/billing-sync"


# --- the freestyle fixture: every element ---------------------------------------------------------


@pytest.fixture(scope="module")
def ledger():
    return convert("jenkins_home/jobs/ledger-export/config.xml", "ledger-export")


def test_freestyle_parameters(ledger):
    data, _ = ledger
    assert data["params"] == [
        {"name": "TARGET_BUCKET", "type": "string", "default": "s3://finance-warehouse/ledger", "description": "Where the export goes."},
        {"name": "FULL_EXPORT", "type": "boolean", "default": False, "description": "Export everything, not only yesterday."},
        {"name": "REGION", "type": "choice", "choices": ["emea", "amer", "apac"], "default": "emea", "description": "Ledger region."},
    ]


def test_password_parameter_becomes_a_secret_reference_never_a_value(ledger):
    data, job = ledger
    assert data["secret_env"] == [{"name": "DB_PASSWORD", "secret": "ledger-export-params", "key": "DB_PASSWORD"}]
    assert "AQAAAB" not in repr(data) and "AQAAAB" not in repr(job)


def test_timer_resolves_h_with_the_full_name(ledger):
    data, _ = ledger
    expected = parse_spec("H 2 * * 1-5", seed="ledger-export").lines[0].to_cron()
    assert data["schedule"] == {"cron": [expected], "jenkins_spec": "H 2 * * 1-5"}


def test_retries_timeout_concurrency_and_notifications(ledger):
    data, _ = ledger
    assert (data["retries"], data["retry_delay_seconds"], data["timeout_minutes"]) == (2, 300, 45)
    assert data["max_active_runs"] == 1
    assert data["notifications"] == {
        "slack": {"channel": "#finance-batch"},
        "email": {"to": ["finance-data@example.com", "ops@example.com", "ledger-owners@example.com"]},
    }


def test_downstream_triggers(ledger):
    data, _ = ledger
    assert data["triggers"] == [
        {"dag_id": "team-a.nightly.report", "when": "success"},
        {"dag_id": "ledger-audit", "when": "always", "conf": {"LEDGER_REGION": "{{ params.REGION }}", "MODE": "incremental"}},
    ]


def test_java_jar_step_runs_in_the_jobs_image_with_kubernetes_variable_expansion(ledger):
    data, _ = ledger
    assert data["image"] == "registry.internal/batch/ledger-export:latest"
    assert data["command"] == [
        "java", "-Xmx2g", "-jar", "/opt/ledger/ledger-export.jar", "--target", "$(TARGET_BUCKET)",
        "--region", "$(REGION)", "--build", "$(BUILD_NUMBER)",
    ]


def test_everything_unmapped_is_reported(ledger):
    _, job = ledger
    assert categories(job) == ["credentials", "node-label", "notification", "parameter", "plugin", "scm-polling"]
    details = " ".join(issue.detail for issue in job.issues)
    assert "conditional-buildstep" in details and "linux-large" in details and "OVERRIDES" in details


def test_cosmetic_elements_are_no_ops_listed_with_their_source_not_items_to_review(ledger):
    _, job = ledger
    assert [n.element for n in job.noops] == ["job property BuildDiscarderProperty", "build wrapper TimestamperBuildWrapper"]
    assert all(n.source.startswith("https://") for n in job.noops)
    assert not any("BuildDiscarder" in i.detail or "Timestamper" in i.detail for i in job.issues)


def test_folder_job_disabled_concurrent_multiline_tz_schedule():
    data, job = convert("jenkins_home/jobs/team-a/jobs/nightly/jobs/export/config.xml", "team-a/nightly/export")
    assert data["name"] == "team-a.nightly.export"
    assert data["paused"] is True
    assert data["max_active_runs"] == 16
    lines = parse_spec("H H(1-3) * * 1-5\nH 6 1 * 0", seed="team-a/nightly/export").lines
    assert data["schedule"]["cron"] == [line.to_cron() for line in lines]
    assert data["schedule"]["timezone"] == "Europe/Berlin"
    assert data["tags"] == ["jenkins", "team-a"]
    assert data["image"] == OPTIONS.shell_image
    assert data["command"][:2] == ["/bin/sh", "-xec"]
    assert categories(job) == ["variable"]  # $NODE_NAME


def test_controller_timezone_option_applies_without_tz_line():
    data, _ = convert("jenkins_home/jobs/ledger-export/config.xml", "ledger-export", Options(timezone="Asia/Tokyo"))
    assert data["schedule"]["timezone"] == "Asia/Tokyo"


def test_shebang_step_runs_with_its_interpreter():
    data, _ = convert("jenkins_home/jobs/team-a/jobs/nightly/jobs/report/config.xml", "team-a/nightly/report")
    assert data["command"] == ["/bin/bash", "-e", "-c", 'python3 /opt/report/build.py --date "$(date -d yesterday +%F)"']


def test_inline_declarative_pipeline_job():
    data, job = convert("jenkins_home/jobs/pipeline-inline/config.xml", "pipeline-inline")
    assert data["schedule"]["cron"] == [parse_spec("@midnight", seed="pipeline-inline").lines[0].to_cron()]
    assert (data["retries"], data["timeout_minutes"], data["max_active_runs"]) == (1, 20, 1)
    assert data["params"] == [{"name": "WAREHOUSE", "type": "string", "default": "main"}]
    assert data["command"] == ["java", "-jar", "/app/inventory-sync.jar", "--warehouse", "$(WAREHOUSE)"]
    assert job.issues == []


def test_standalone_jenkinsfile():
    data, job = convert("jenkinsfiles/billing-sync/Jenkinsfile", "billing-sync")
    assert data["schedule"]["timezone"] == "America/New_York"
    assert (data["retries"], data["timeout_minutes"], data["max_active_runs"]) == (2, 120, 1)
    assert data["secret_env"] == [{"name": "API_TOKEN", "secret": "billing-sync-params", "key": "API_TOKEN"}]
    assert "SECRET-DO-NOT-COPY" not in repr(data)
    assert data["notifications"]["email"] == {"to": ["billing-team@example.com"]}
    assert data["triggers"] == [{"dag_id": "billing-report", "when": "success", "conf": {"DAY": "{{ params.DAY }}"}}]
    assert data["env"] == {"REGION": "us-east-1"}
    assert "scm-polling" in categories(job) and "credentials" in categories(job)


@pytest.mark.parametrize(
    ("relative", "error", "message"),
    [
        ("jenkins_home/jobs/broken-xml/config.xml", XmlError, "malformed XML at line 7"),
        ("jenkins_home/jobs/bad-cron/config.xml", ConversionError, "token '25'"),
        ("jenkins_home/jobs/scripted-inline/config.xml", ManualMigration, "scripted pipeline"),
        ("jenkins_home/jobs/matrix/config.xml", ManualMigration, "matrix"),
        ("jenkinsfiles/scripted.Jenkinsfile", ManualMigration, "scripted pipeline"),
        ("jenkinsfiles/unterminated.Jenkinsfile", ConversionError, "line 6: unterminated string"),
    ],
)
def test_bad_and_unsupported_input_is_named(relative, error, message):
    with pytest.raises(error) as info:
        convert(relative, Path(relative).parent.name)
    assert message in str(info.value)


def test_folder_config_is_not_a_job():
    with pytest.raises(FolderDefinition):
        read_definition(definition("jenkins_home/jobs/team-a/config.xml", "team-a"))


def test_doctype_is_refused():
    with pytest.raises(XmlError, match="DOCTYPE"):
        parse_xml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><project/>')


def test_unknown_job_type_is_manual():
    with pytest.raises(ManualMigration, match="unsupported job type <some.plugin.Job>"):
        read_config(parse_xml(b"<some.plugin.Job/>"), JenkinsJob("x", "x", "freestyle"))


# --- commands --------------------------------------------------------------------------------------


def job_with(*steps: str, **fields) -> JenkinsJob:
    return JenkinsJob("x", "x", "freestyle", shell_steps=list(steps), **fields)


def test_java_step_with_shell_syntax_stays_a_shell_script_in_the_jobs_image():
    image, command = build_command(job_with("java -jar app.jar | tee out.log"), "x", OPTIONS)
    assert image == "registry.internal/batch/x:latest"
    assert command == ["/bin/sh", "-xec", "java -jar app.jar | tee out.log"]


def test_several_steps_become_one_script_stopping_at_the_first_failure():
    image, command = build_command(job_with("make\n", "  \n", "make install"), "x", OPTIONS)
    assert image == OPTIONS.shell_image
    assert command == ["/bin/sh", "-xec", "make\nmake install"]


def test_docker_agent_image_wins():
    image, _ = build_command(job_with("java -jar a.jar", docker_image="eclipse-temurin:21"), "x", OPTIONS)
    assert image == "eclipse-temurin:21"


def test_a_job_without_shell_steps_is_manual_work():
    with pytest.raises(ManualMigration, match="no shell step"):
        build_command(job_with(), "x", OPTIONS)


def test_invalid_parameter_names_are_reported_not_dropped():
    job = job_with("true", params=[Param("my-param", "string", "x"), Param("OK", "string", "y")])
    data = to_spec_data(job, OPTIONS)
    assert [p["name"] for p in data["params"]] == ["OK"]
    assert categories(job) == ["parameter"]


def test_timer_with_only_comments_gives_no_schedule_and_an_issue():
    job = job_with("true", timer_spec="# disabled for now\n")
    data = to_spec_data(job, OPTIONS)
    assert "schedule" not in data
    assert categories(job) == ["schedule"]


def test_never_firing_timer_is_reported():
    job = job_with("true", timer_spec="0 0 30 2 *")
    to_spec_data(job, OPTIONS)
    assert categories(job) == ["schedule"]
