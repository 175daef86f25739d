"""The plugin knowledge base and the mappings it drives, on config.xml written in each plugin's
documented format (the XStream elements Jenkins saves), not on any particular job set."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration import knowledge
from migration.convert import Options, read_definition, to_spec_data
from migration.discover import Definition
from migration.model import JenkinsJob, ManualMigration

SHELL = "<hudson.tasks.Shell><command>java -jar /app/batch.jar --job.name=settle</command></hudson.tasks.Shell>"
WHERE_TO_SECTION = {"property": "properties", "trigger": "triggers", "builder": "builders",
                    "publisher": "publishers", "wrapper": "wrappers"}


def freestyle(*, properties: str = "", triggers: str = "", builders: str = SHELL, publishers: str = "",
              wrappers: str = "", extra: str = "") -> str:
    return f"""<?xml version='1.1' encoding='UTF-8'?>
<project>
  <description>settlement</description>
  <properties>{properties}</properties>
  <scm class="hudson.scm.NullSCM"/>
  <canRoam>true</canRoam>
  <disabled>false</disabled>
  <triggers>{triggers}</triggers>
  <concurrentBuild>true</concurrentBuild>
  <builders>{builders}</builders>
  <publishers>{publishers}</publishers>
  <buildWrappers>{wrappers}</buildWrappers>
  {extra}
</project>
"""


def read_xml(tmp_path: Path, xml: str, full_name: str = "finance/settle", options: Options | None = None) -> JenkinsJob:
    path = tmp_path / "config.xml"
    path.write_text(xml, encoding="utf-8")
    return read_definition(Definition(path, full_name, "config.xml", "jobs/settle/config.xml"), options)


def spec_of(tmp_path: Path, xml: str, full_name: str = "finance/settle", options: Options | None = None):
    job = read_xml(tmp_path, xml, full_name, options)
    return to_spec_data(job, options or Options()), job


# --- the base itself -----------------------------------------------------------------------------


def test_every_entry_is_classified_and_sourced():
    entries = knowledge.entries()
    assert len(entries) >= 70
    assert {entry.cls for entry in entries.values()} == set(knowledge.CLASSES)
    for entry in entries.values():
        assert entry.source.startswith("https://"), entry.key
        assert entry.cls != "review" or entry.question, entry.key


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{where: property, plugin: p, does: d, mapping: m, class: maybe, source: 'https://x'}", "class = 'maybe'"),
        ("{where: property, plugin: p, does: d, mapping: m, class: review, source: 'https://x'}", "needs the question"),
        ("{where: property, plugin: p, does: d, mapping: m, class: no-op, source: 'http://x'}", "expected an https://"),
        ("{where: property, plugin: p, does: d, mapping: m, class: no-op}", "missing field(s) ['source']"),
        ("{where: property, plugin: p, does: d, mapping: m, class: no-op, source: 'https://x', colour: red}", "unknown field"),
    ],
)
def test_a_bad_entry_names_the_file_the_key_and_the_field(tmp_path, entry, message):
    path = tmp_path / "kb.yaml"
    path.write_text(f"entries:\n  some.Plugin: {entry}\n", encoding="utf-8")
    with pytest.raises(knowledge.KnowledgeBaseError) as caught:
        knowledge.load(path)
    assert str(path) in str(caught.value) and "'some.Plugin'" in str(caught.value) and message in str(caught.value)


NO_OPS = sorted(
    (key, entry.where) for key, entry in knowledge.entries().items()
    if entry.cls == "no-op" and entry.where in WHERE_TO_SECTION
)


@pytest.mark.parametrize(("key", "where"), NO_OPS, ids=[key for key, _ in NO_OPS])
def test_no_op_plugins_are_listed_never_items_to_review(tmp_path, key, where):
    element = f"<{key}/>"
    sections = {WHERE_TO_SECTION[where]: element + (SHELL if where == "builder" else "")}
    data, job = spec_of(tmp_path, freestyle(**sections))
    assert job.issues == []
    assert [n.source for n in job.noops] == [knowledge.lookup(key).source]


def test_an_unknown_element_is_a_review_item_that_keeps_its_raw_xml(tmp_path):
    raw = '<org.acme.FancyNotifier plugin="fancy@1.2"><target>ops</target></org.acme.FancyNotifier>'
    _, job = spec_of(tmp_path, freestyle(publishers=raw))
    (issue,) = job.issues
    assert "not in the plugin knowledge base" in issue.detail and "fancy" in issue.detail
    assert "<target>ops</target>" in issue.raw


def test_a_review_entry_carries_its_question_and_source(tmp_path):
    _, job = spec_of(tmp_path, freestyle(publishers="<hudson.tasks.ArtifactArchiver><artifacts>out/*.csv</artifacts></hudson.tasks.ArtifactArchiver>"))
    (issue,) = job.issues
    assert issue.hint == knowledge.lookup("hudson.tasks.ArtifactArchiver").question
    assert issue.source.startswith("https://www.jenkins.io/")


def test_a_manual_entry_makes_the_job_manual(tmp_path):
    with pytest.raises(ManualMigration, match="job-dsl"):
        read_xml(tmp_path, freestyle(builders="<javaposse.jobdsl.plugin.ExecuteDslScripts/>"))


# --- chains ---------------------------------------------------------------------------------------

BLOCK = """<block>
  <buildStepFailureThreshold><name>{step}</name><ordinal>2</ordinal><color>RED</color><completeBuild>true</completeBuild></buildStepFailureThreshold>
  <unstableThreshold><name>UNSTABLE</name><ordinal>1</ordinal><color>YELLOW</color><completeBuild>true</completeBuild></unstableThreshold>
  <failureThreshold><name>{build}</name><ordinal>2</ordinal><color>RED</color><completeBuild>true</completeBuild></failureThreshold>
</block>"""


def trigger_builder(projects: str, block: str = "", params: str = "") -> str:
    return f"""<hudson.plugins.parameterizedtrigger.TriggerBuilder plugin="parameterized-trigger@2.45">
  <configs>
    <hudson.plugins.parameterizedtrigger.BlockableBuildTriggerConfig>
      <configs>{params}</configs>
      <projects>{projects}</projects>
      <condition>ALWAYS</condition>
      <triggerWithNoParameters>false</triggerWithNoParameters>
      <triggerFromChildProjects>false</triggerFromChildProjects>
      {block}
      <buildAllNodesWithLabel>false</buildAllNodesWithLabel>
    </hudson.plugins.parameterizedtrigger.BlockableBuildTriggerConfig>
  </configs>
</hudson.plugins.parameterizedtrigger.TriggerBuilder>"""


def test_blocking_trigger_step_waits_and_fails_with_the_downstream_job(tmp_path):
    params = ("<hudson.plugins.parameterizedtrigger.PredefinedBuildParameters><properties>DAY=$DAY\nMODE=full"
              "</properties></hudson.plugins.parameterizedtrigger.PredefinedBuildParameters>")
    block = BLOCK.format(step="FAILURE", build="FAILURE")
    data, job = spec_of(tmp_path, freestyle(builders=SHELL + trigger_builder("post, ../audit", block, params)))
    assert data["triggers"] == [
        {"dag_id": "finance.post", "when": "success", "conf": {"DAY": "{{ params.DAY }}", "MODE": "full"}, "wait": True},
        {"dag_id": "audit", "when": "success", "conf": {"DAY": "{{ params.DAY }}", "MODE": "full"}, "wait": True},
    ]
    assert job.issues == [] and [n.element for n in job.noops] == ["blocking trigger: unstable threshold UNSTABLE"]


def test_blocking_trigger_that_never_fails_the_step_waits_and_ignores_the_result(tmp_path):
    block = "<block/>"
    data, _ = spec_of(tmp_path, freestyle(builders=SHELL + trigger_builder("post", block)))
    assert data["triggers"] == [{"dag_id": "finance.post", "when": "success", "wait": True, "propagate": False}]


def test_unstable_thresholds_are_review_items_saying_why(tmp_path):
    block = BLOCK.format(step="UNSTABLE", build="FAILURE")
    _, job = spec_of(tmp_path, freestyle(builders=SHELL + trigger_builder("post", block)))
    assert [i.detail for i in job.issues] == ["blocking trigger: build step failure threshold UNSTABLE"]


def test_non_blocking_trigger_step_fires_and_forgets(tmp_path):
    data, _ = spec_of(tmp_path, freestyle(builders=SHELL + trigger_builder("post")))
    assert data["triggers"] == [{"dag_id": "finance.post", "when": "success"}]


def test_a_trigger_step_before_other_steps_is_flagged(tmp_path):
    _, job = spec_of(tmp_path, freestyle(builders=trigger_builder("post") + SHELL))
    assert [i.category for i in job.issues] == ["trigger"] and "before other build steps" in job.issues[0].detail


def test_a_job_whose_only_steps_trigger_others_is_converted_without_a_batch_task(tmp_path):
    data, job = spec_of(tmp_path, freestyle(builders=trigger_builder("a, b", BLOCK.format(step="FAILURE", build="FAILURE"))))
    assert "image" not in data and "command" not in data
    assert [t["dag_id"] for t in data["triggers"]] == ["finance.a", "finance.b"]


@pytest.mark.parametrize(
    ("threshold", "reviewed"), [("SUCCESS", False), ("UNSTABLE", False), ("FAILURE", True)]
)
def test_reverse_build_trigger_schedules_on_the_upstream_assets(tmp_path, threshold, reviewed):
    trigger = f"""<jenkins.triggers.ReverseBuildTrigger>
      <spec></spec>
      <upstreamProjects>extract, /shared/rates</upstreamProjects>
      <threshold><name>{threshold}</name><ordinal>0</ordinal><color>BLUE</color><completeBuild>true</completeBuild></threshold>
    </jenkins.triggers.ReverseBuildTrigger>"""
    data, job = spec_of(tmp_path, freestyle(triggers=trigger))
    assert data["after"] == ["finance.extract", "shared.rates"]
    assert bool(job.issues) is reviewed


def test_build_trigger_thresholds(tmp_path):
    publisher = """<hudson.tasks.BuildTrigger><childProjects>report</childProjects>
      <threshold><name>FAILURE</name><ordinal>2</ordinal><color>RED</color><completeBuild>true</completeBuild></threshold>
    </hudson.tasks.BuildTrigger>"""
    data, _ = spec_of(tmp_path, freestyle(publishers=publisher))
    assert data["triggers"] == [{"dag_id": "finance.report", "when": "always"}]


# --- the other frequent items ----------------------------------------------------------------------

THROTTLE = """<hudson.plugins.throttleconcurrents.ThrottleJobProperty plugin="throttle-concurrents@2.14">
  <maxConcurrentPerNode>1</maxConcurrentPerNode>
  <maxConcurrentTotal>{total}</maxConcurrentTotal>
  <categories class="java.util.concurrent.CopyOnWriteArrayList">{categories}</categories>
  <throttleEnabled>true</throttleEnabled>
  <throttleOption>{option}</throttleOption>
  <limitOneJobWithMatchingParams>false</limitOneJobWithMatchingParams>
  <paramsToUseForLimit></paramsToUseForLimit>
</hudson.plugins.throttleconcurrents.ThrottleJobProperty>"""


def test_throttle_total_becomes_max_active_runs(tmp_path):
    data, job = spec_of(tmp_path, freestyle(properties=THROTTLE.format(total=3, categories="", option="project")))
    assert data["max_active_runs"] == 3 and job.issues == []


def test_throttle_categories_are_a_review_item(tmp_path):
    xml = freestyle(properties=THROTTLE.format(total=0, categories="<string>db-heavy</string>", option="category"))
    data, job = spec_of(tmp_path, xml)
    assert data["max_active_runs"] == 16
    assert [i.category for i in job.issues] == ["throttle"] and "db-heavy" in job.issues[0].detail


def test_static_envinject_properties_become_env_and_files_are_reviewed(tmp_path):
    prop = """<EnvInjectJobProperty plugin="envinject@2.908">
      <info><propertiesFilePath>/etc/batch.properties</propertiesFilePath>
        <propertiesContent>SPRING_PROFILES_ACTIVE=prod
# a comment
BATCH_CHUNK: 500
TARGET=${WORKSPACE}/out</propertiesContent>
        <secureGroovyScript plugin="script-security@1.78"><script></script><sandbox>false</sandbox></secureGroovyScript>
        <loadFilesFromMaster>false</loadFilesFromMaster></info>
      <on>true</on><keepJenkinsSystemVariables>true</keepJenkinsSystemVariables>
      <keepBuildVariables>true</keepBuildVariables><overrideBuildParameters>false</overrideBuildParameters>
    </EnvInjectJobProperty>"""
    data, job = spec_of(tmp_path, freestyle(properties=prop))
    assert data["env"] == {"SPRING_PROFILES_ACTIVE": "prod", "BATCH_CHUNK": "500"}
    assert sorted(i.detail.split(": ")[1].split(" ")[0] for i in job.issues) == ["TARGET", "propertiesFilePath"]


def test_email_ext_success_triggers_are_a_review_item_with_the_question(tmp_path):
    publisher = """<hudson.plugins.emailext.ExtendedEmailPublisher plugin="email-ext@2.105">
      <recipientList>ops@example.com</recipientList>
      <configuredTriggers>
        <hudson.plugins.emailext.plugins.trigger.FailureTrigger><email><recipientList/></email></hudson.plugins.emailext.plugins.trigger.FailureTrigger>
        <hudson.plugins.emailext.plugins.trigger.FixedTrigger><email><recipientList/></email></hudson.plugins.emailext.plugins.trigger.FixedTrigger>
      </configuredTriggers>
    </hudson.plugins.emailext.ExtendedEmailPublisher>"""
    data, job = spec_of(tmp_path, freestyle(publishers=publisher))
    assert data["notifications"] == {"email": {"to": ["ops@example.com"]}}
    (issue,) = job.issues
    assert "FixedTrigger" in issue.detail and "should success or recovery also notify" in issue.hint


# --- pipelines whose Jenkinsfile is in SCM --------------------------------------------------------

SCM_PIPELINE = """<?xml version='1.1' encoding='UTF-8'?>
<flow-definition plugin="workflow-job@1400">
  <properties>
    <hudson.model.ParametersDefinitionProperty><parameterDefinitions>
      <hudson.model.StringParameterDefinition><name>DAY</name><defaultValue>today</defaultValue></hudson.model.StringParameterDefinition>
    </parameterDefinitions></hudson.model.ParametersDefinitionProperty>
    <org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty><triggers>
      <hudson.triggers.TimerTrigger><spec>TZ=Europe/Paris
H 5 * * 1-5</spec></hudson.triggers.TimerTrigger>
    </triggers></org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty>
  </properties>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition" plugin="workflow-cps@3894">
    <scm class="hudson.plugins.git.GitSCM" plugin="git@5.2.1">
      <configVersion>2</configVersion>
      <userRemoteConfigs><hudson.plugins.git.UserRemoteConfig><url>https://git.example.com/fin/settle.git</url>
        <credentialsId>git</credentialsId></hudson.plugins.git.UserRemoteConfig></userRemoteConfigs>
      <branches><hudson.plugins.git.BranchSpec><name>*/main</name></hudson.plugins.git.BranchSpec></branches>
    </scm>
    <scriptPath>{script_path}</scriptPath>
    <lightweight>true</lightweight>
  </definition>
  <disabled>false</disabled>
</flow-definition>
"""
JENKINSFILE = """pipeline {
  agent { docker { image 'registry.internal/fin/settle:4.2' } }
  triggers { cron('H 6 * * *') }
  options { timestamps() }
  stages { stage('run') { steps { sh 'java -jar /app/settle.jar --job.name=settle' } } }
}
"""


def test_scm_pipeline_without_a_checkout_keeps_schedule_and_params_paused_with_the_command_to_finish(tmp_path):
    data, job = spec_of(tmp_path, SCM_PIPELINE.format(script_path="ci/Jenkinsfile"), "finance/settle",
                        Options(out_dir="dags/jobs"))
    assert data["paused"] is True
    assert data["schedule"]["timezone"] == "Europe/Paris" and data["schedule"]["jenkins_spec"].endswith("H 5 * * 1-5")
    assert data["params"] == [{"name": "DAY", "type": "string", "default": "today"}]
    (issue,) = [i for i in job.issues if i.category == "scm"]
    assert "ci/Jenkinsfile of https://git.example.com/fin/settle.git (*/main)" in issue.detail
    assert "--checkout https://git.example.com/fin/settle.git=<a local checkout of */main> --out dags/jobs" in issue.hint
    assert data["command"][-1].endswith("exit 1")


def test_scm_pipeline_with_a_checkout_reads_the_jenkinsfile_which_wins_on_conflicts(tmp_path):
    checkout = tmp_path / "settle"
    (checkout / "ci").mkdir(parents=True)
    (checkout / "ci" / "Jenkinsfile").write_text(JENKINSFILE, encoding="utf-8")
    options = Options(checkouts=(("https://git.example.com/fin/settle", checkout),))
    data, job = spec_of(tmp_path, SCM_PIPELINE.format(script_path="ci/Jenkinsfile"), "finance/settle", options)
    assert data["image"] == "registry.internal/fin/settle:4.2"
    assert data["command"][:2] == ["java", "-jar"]
    assert data["schedule"]["jenkins_spec"] == "H 6 * * *"  # the Jenkinsfile's cron replaces config.xml's
    assert data["params"] == [{"name": "DAY", "type": "string", "default": "today"}]  # only config.xml has params
    assert "paused" not in data
    assert any("params from config.xml" in m for m in job.mapped)
    assert any("schedule from the Jenkinsfile" in m for m in job.mapped)


def test_scm_pipeline_script_path_may_not_leave_the_checkout(tmp_path):
    from migration.model import ConversionError

    checkout = tmp_path / "settle"
    checkout.mkdir()
    options = Options(checkouts=(("https://git.example.com/fin/settle", checkout),))
    with pytest.raises(ConversionError, match="outside the checkout"):
        read_xml(tmp_path, SCM_PIPELINE.format(script_path="../../etc/passwd"), "finance/settle", options)


# --- manual never means lost ------------------------------------------------------------------------


def test_a_manual_job_keeps_its_resolved_schedule_params_notifications_and_links(tmp_path):
    from migration.convert import carry_over

    xml = freestyle(
        properties="""<hudson.model.ParametersDefinitionProperty><parameterDefinitions>
          <hudson.model.ChoiceParameterDefinition><name>REGION</name><choices class="java.util.Arrays$ArrayList">
            <a class="string-array"><string>eu</string><string>us</string></a></choices></hudson.model.ChoiceParameterDefinition>
          </parameterDefinitions></hudson.model.ParametersDefinitionProperty>""",
        triggers="<hudson.triggers.TimerTrigger><spec>TZ=America/New_York\nH 2 * * *</spec></hudson.triggers.TimerTrigger>",
        publishers="<hudson.tasks.Mailer><recipients>ops@example.com</recipients></hudson.tasks.Mailer>"
                   "<hudson.tasks.BuildTrigger><childProjects>report</childProjects></hudson.tasks.BuildTrigger>",
    ).replace("<project>", "<matrix-project>").replace("</project>", "</matrix-project>")
    with pytest.raises(ManualMigration) as caught:
        read_xml(tmp_path, xml)
    kept = carry_over(caught.value.job, Options())
    assert kept["schedule"]["timezone"] == "America/New_York"
    assert len(kept["schedule"]["cron"]) == 1 and kept["schedule"]["cron"][0].endswith("* * *")
    assert kept["params"] == [{"name": "REGION", "type": "choice", "choices": ["eu", "us"], "default": "eu"}]
    assert kept["notifications"] == {"email": {"to": ["ops@example.com"]}}
    assert kept["triggers"] == [{"dag_id": "finance.report", "when": "success"}]
