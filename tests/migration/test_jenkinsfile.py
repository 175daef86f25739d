"""Declarative Jenkinsfiles: the parser and the mapping of each directive."""

from __future__ import annotations

import pytest

from migration.jenkinsfile import GString, JenkinsfileSyntaxError, parse, read_jenkinsfile, tokenize
from migration.model import JenkinsJob, ManualMigration


def read(text: str) -> JenkinsJob:
    job = JenkinsJob(full_name="team/job", source="Jenkinsfile", kind="jenkinsfile")
    read_jenkinsfile(text, job)
    return job


def categories(job: JenkinsJob) -> list[str]:
    return [issue.category for issue in job.issues]


# --- parser --------------------------------------------------------------------------------------


def test_tokenizer_handles_all_string_forms_and_comments():
    tokens = tokenize("""a 'x' "y ${z}" '''m\nl''' // c\n/* block\n*/ b""")
    strings = [t for t in tokens if t.kind == "STR"]
    assert [s.value for s in strings] == ["x", "y ${z}", "m\nl"]
    assert [s.interpolated for s in strings] == [False, True, False]
    assert [t.value for t in tokens if t.kind == "IDENT"] == ["a", "b"]
    assert tokens[-1].line == 4


def test_parser_builds_blocks_calls_kwargs_and_lists():
    (pipeline,) = parse("""
    pipeline {
        options { timeout(time: 5, unit: 'MINUTES'); retry(2) }
        stages { stage('A') { steps { build job: 'x', parameters: [string(name: 'P', value: "v${params.Q}")], wait: false } } }
    }""")
    options, stages = pipeline.body
    timeout, retry = options.body
    assert timeout.kwargs == {"time": 5, "unit": "MINUTES"} and retry.args == [2]
    build = stages.body[0].body[0].body[0]
    assert build.name == "build" and build.kwargs["job"] == "x" and build.kwargs["wait"] is False
    (param,) = build.kwargs["parameters"]
    assert param.name == "string" and isinstance(param.kwargs["value"], GString)


def test_brace_on_the_next_line_still_opens_the_block():
    (pipeline,) = parse("pipeline\n{\n  agent any\n}\n")
    assert pipeline.body[0].name == "agent"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pipeline {\n  agent any\n", "missing '}'"),
        ("pipeline {\n  steps { sh 'oops\n}\n}", "line 2: unterminated string"),
        ("pipeline { x(a: 1 }", "line 1: expected ',' or ')'"),
        ("pipeline { }\n}", "line 2: unexpected '}'"),
        ("/* never closed", "unterminated /* comment"),
        ("pipeline { sh(')') ) }", "unexpected ')'"),
    ],
)
def test_syntax_errors_name_the_line(text, message):
    with pytest.raises(JenkinsfileSyntaxError) as info:
        read(text)
    assert message in str(info.value)


# --- directives ----------------------------------------------------------------------------------


def test_scripted_pipeline_is_manual_work():
    with pytest.raises(ManualMigration, match="scripted pipeline"):
        read("node('linux') {\n  stage('x') { sh 'make' }\n}")


def test_options_map_to_timeout_retries_and_concurrency():
    job = read("""pipeline { agent any
      options { timeout(time: 90, unit: 'SECONDS'); retry(4); disableConcurrentBuilds(); timestamps(); lock('x') }
      stages { stage('s') { steps { sh 'true' } } } }""")
    assert job.timeout_minutes == 2  # rounded up to whole minutes
    assert job.retries == 3  # retry(4) is four attempts
    assert job.concurrent is False
    assert categories(job) == ["option"]  # lock: a review (which jobs share the resource)
    assert [n.element for n in job.noops] == ["option timestamps"]  # cosmetic: listed, not to review


def test_triggers_cron_and_upstream_map_and_polling_is_reported():
    job = read("""pipeline { agent any
      triggers { cron('H 4 * * *'); pollSCM('H/5 * * * *'); upstream(upstreamProjects: 'a, team/b') }
      stages { stage('s') { steps { sh 'true' } } } }""")
    assert job.timer_spec == "H 4 * * *"
    assert categories(job) == ["scm-polling"]
    assert job.upstream == ["a", "team/b"]


def test_upstream_trigger_on_failure_is_a_review_item_saying_why():
    job = read("""pipeline { agent any
      triggers { upstream(upstreamProjects: 'a', threshold: hudson.model.Result.FAILURE) }
      stages { stage('s') { steps { sh 'true' } } } }""")
    assert job.upstream == ["a"]
    assert categories(job) == ["trigger"] and "even when they fail" in job.issues[0].detail


def test_parameters_and_password_defaults_are_never_read():
    job = read("""pipeline { agent any
      parameters {
        string(name: 'A', defaultValue: 'x', description: 'd')
        text(name: 'T', defaultValue: 'long')
        booleanParam(name: 'B', defaultValue: true)
        choice(name: 'C', choices: ['p', 'q'])
        choice(name: 'D', choices: 'r\\ns')
        password(name: 'PW', defaultValue: 'hunter2')
        file(name: 'F')
      }
      stages { stage('s') { steps { sh 'true' } } } }""")
    by_name = {p.name: p for p in job.params}
    assert (by_name["A"].type, by_name["A"].default, by_name["A"].description) == ("string", "x", "d")
    assert by_name["T"].type == "text"
    assert by_name["B"].default is True
    assert by_name["C"].choices == ["p", "q"] and by_name["C"].default == "p"
    assert by_name["D"].choices == ["r", "s"]
    assert by_name["PW"].type == "password" and by_name["PW"].default is None
    assert "hunter2" not in repr(job)
    assert categories(job) == ["parameter"]  # the file parameter


def test_environment_literals_map_credentials_and_expressions_are_reported():
    job = read("""pipeline { agent any
      environment { A = 'x'; CREDS = credentials('db'); C = "v${env.BUILD_NUMBER}" }
      stages { stage('s') { steps { sh 'true' } } } }""")
    assert job.env == {"A": "x"}
    assert categories(job) == ["credentials", "groovy"]


def test_steps_shell_echo_and_groovy_interpolation():
    job = read("""pipeline { agent any
      stages {
        stage('one') { steps { echo "from ${params.SRC}"; sh "run --day ${params.DAY} --x ${env.X} --y ${Y}" } }
        stage('two') { steps { sh script: 'second', returnStatus: false; sh "bad ${foo.bar()}" } }
      } }""")
    assert job.shell_steps == [
        'echo "from ${SRC}"', "run --day ${DAY} --x ${X} --y ${Y}", "second", "bad ${foo.bar()}"
    ]
    assert categories(job) == ["groovy"]


def test_unmapped_steps_stage_conditions_and_script_blocks_are_reported():
    job = read("""pipeline { agent any
      stages { stage('s') {
        when { branch 'main' }
        steps { checkout scm; script { def x = 1 }; junit 'r.xml'; sh 'make' }
      } } }""")
    assert job.shell_steps == ["make"]
    assert categories(job) == ["groovy", "step", "groovy", "step"]


def test_nested_retry_and_timeout_steps_map():
    job = read("""pipeline { agent any
      stages { stage('s') { steps { timeout(time: 1, unit: 'HOURS') { retry(3) { sh 'flaky' } } } } } }""")
    assert job.shell_steps == ["flaky"]
    assert job.timeout_minutes == 60 and job.retries == 2


def test_build_steps_become_triggers_with_conf():
    job = read("""pipeline { agent any
      stages { stage('s') { steps {
        sh 'x'
        build job: 'next', parameters: [string(name: 'DAY', value: "${params.DAY}"), booleanParam(name: 'F', value: true)], wait: false
        build 'blocking'
      } } } }""")
    assert [(t.target, t.when, t.conf) for t in job.triggers] == [
        ("next", "success", {"DAY": "{{ params.DAY }}", "F": "true"}),
        ("blocking", "success", {}),
    ]
    # build 'blocking' waits for the downstream run and fails with it (Jenkins' default wait/propagate).
    assert [(t.wait, t.propagate) for t in job.triggers] == [(False, True), (True, True)]
    assert categories(job) == []


def test_build_step_wait_without_propagate_waits_and_ignores_the_result():
    job = read("""pipeline { agent any
      stages { stage('s') { steps { sh 'x'; build job: 'next', wait: true, propagate: false } } } }""")
    assert [(t.target, t.wait, t.propagate) for t in job.triggers] == [("next", True, False)]


def test_post_failure_notifications_and_triggers():
    job = read("""pipeline { agent any
      stages { stage('s') { steps { sh 'x' } } }
      post {
        failure { mail to: 'a@example.com, b@example.com', subject: 's', body: 'b'; slackSend channel: '#c', message: 'm' }
        always { build job: 'cleanup', wait: false }
        success { mail to: 'c@example.com', subject: 's', body: 'b' }
      } }""")
    assert job.emails == ["a@example.com", "b@example.com"]
    assert job.slack_channel == "#c"
    assert [(t.target, t.when) for t in job.triggers] == [("cleanup", "always")]
    assert categories(job) == ["post"]


def test_agent_docker_image_becomes_the_job_image_and_labels_are_reported():
    job = read("pipeline { agent { docker { image 'maven:3.9' } }\n stages { stage('s') { steps { sh 'mvn -q' } } } }")
    assert job.docker_image == "maven:3.9"
    job = read("pipeline { agent { label 'big' }\n stages { stage('s') { steps { sh 'x' } } } }")
    assert categories(job) == ["node-label"]


def test_top_level_groovy_beside_the_pipeline_is_reported():
    job = read("def helper = 1\npipeline { agent any\n stages { stage('s') { steps { sh 'x' } } } }")
    assert categories(job) == ["groovy"]


def test_parallel_stages_run_sequentially_and_are_reported():
    job = read("""pipeline { agent any
      stages { stage('p') { parallel {
        stage('a') { steps { sh 'a' } }
        stage('b') { steps { sh 'b' } }
      } } } }""")
    assert job.shell_steps == ["a", "b"]
    assert categories(job) == ["step"]


def test_wrapper_steps_are_reported_and_their_inner_steps_kept():
    job = read("""pipeline { agent any
      stages { stage('s') { steps {
        withCredentials([string(credentialsId: 'api', variable: 'TOKEN')]) { sh 'curl -H "T: $TOKEN" https://x' }
        dir('sub') { sh 'make' }
      } } } }""")
    assert job.shell_steps == ['curl -H "T: $TOKEN" https://x', "make"]
    assert [i.category for i in job.issues] == ["step", "step"]
    assert "Kubernetes Secret" in job.issues[0].hint


def test_sh_used_as_a_value_is_reported():
    job = read("""pipeline { agent any
      stages { stage('s') { steps { sh(returnStatus: true, script: './check.sh') } } } }""")
    assert job.shell_steps == ["./check.sh"]
    assert [i.category for i in job.issues] == ["groovy"]
