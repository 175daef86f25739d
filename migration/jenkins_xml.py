"""Jenkins ``config.xml`` files: freestyle projects and pipeline jobs read into a ``JenkinsJob``.

Each element the converter understands is mapped (and noted in ``job.mapped``); each element it does
not understand is recorded as an issue naming the element and its plugin, so the report lists every
piece of the job that needs a human. Encrypted secrets (``{AQAAAB...}``) and password parameter
defaults are never read into the output.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

from migration.jenkinsfile import read_jenkinsfile
from migration.model import ConversionError, JenkinsJob, ManualMigration, Param, Trigger

FOLDER_TYPES = {"com.cloudbees.hudson.plugins.folder.Folder", "jenkins.branch.OrganizationFolder"}
MANUAL_TYPES = {
    "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject": "multibranch pipeline: convert each branch's Jenkinsfile instead",
    "matrix-project": "matrix (multi-configuration) project: split into one job per configuration",
    "maven2-moduleset": "Maven project type: run Maven in the job's image with a shell command",
}

# Elements that need no mapping: defaults, or settings that have no meaning on the batch platform.
IGNORED_ELEMENTS = {
    "actions", "keepDependencies", "canRoam", "blockBuildWhenDownstreamBuilding",
    "blockBuildWhenUpstreamBuilding", "quietPeriod", "displayName", "logRotator",
}
COSMETIC_WRAPPERS = {
    "hudson.plugins.timestamper.TimestamperBuildWrapper",
    "hudson.plugins.ansicolor.AnsiColorBuildWrapper",
    "hudson.plugins.ws__cleanup.PreBuildCleanup",
}
NEEDS_VALUE_PREFIXES = ("hudson.", "jenkins.", "org.", "com.")


class XmlError(ConversionError):
    pass


def _text(element: ET.Element | None, path: str, default: str = "") -> str:
    if element is None:
        return default
    found = element.find(path)
    return (found.text or "").strip() if found is not None and found.text is not None else default


def _bool(element: ET.Element | None, path: str, default: bool = False) -> bool:
    value = _text(element, path, "")
    return default if value == "" else value.lower() == "true"


def _plugin(element: ET.Element) -> str:
    plugin = element.get("plugin")
    return f" (plugin {plugin.split('@')[0]})" if plugin else ""


def parse_xml(data: bytes) -> ET.Element:
    # Jenkins never writes DTDs; refusing them rules out entity expansion tricks.
    if b"<!DOCTYPE" in data[:2048] or b"<!ENTITY" in data:
        raise XmlError("DOCTYPE/ENTITY declarations are not allowed in a Jenkins config.xml")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        line, column = exc.position
        raise XmlError(f"malformed XML at line {line}, column {column + 1}: {expat.ErrorString(exc.code)}") from None


def job_type(root: ET.Element) -> str:
    return root.tag


def read_config(root: ET.Element, job: JenkinsJob) -> None:
    """Fill ``job`` from a parsed config.xml root (freestyle ``project`` or pipeline ``flow-definition``)."""
    if root.tag in MANUAL_TYPES:
        raise ManualMigration(f"{root.tag}: {MANUAL_TYPES[root.tag]}")
    if root.tag == "project":
        job.kind = "freestyle"
        _read_freestyle(root, job)
    elif root.tag == "flow-definition":
        job.kind = "pipeline"
        _read_pipeline(root, job)
    else:
        raise ManualMigration(f"unsupported job type <{root.tag}>{_plugin(root)}: migrate it by hand")


def _common(root: ET.Element, job: JenkinsJob) -> None:
    job.description = job.scrub(_text(root, "description"))
    job.disabled = _bool(root, "disabled")
    if job.disabled:
        job.mapped.append("disabled -> DAG created paused")


def _read_freestyle(root: ET.Element, job: JenkinsJob) -> None:
    _common(root, job)
    handled = {"description", "disabled", "concurrentBuild", "properties", "triggers", "builders",
               "publishers", "buildWrappers", "scm", "assignedNode", "jdk", "customWorkspace"}
    job.concurrent = _bool(root, "concurrentBuild", False)
    job.mapped.append(
        "concurrent builds " + ("allowed -> max_active_runs=16" if job.concurrent else "off -> max_active_runs=1")
    )
    node = _text(root, "assignedNode")
    if node:
        job.issue("node-label", f"assignedNode {node!r}", "jobs run on the batch node group; put what the label provided into the image")
    jdk = _text(root, "jdk")
    if jdk and jdk != "(System)":
        job.issue("tool", f"jdk {jdk!r}", "use an image with that JDK")
    if _text(root, "customWorkspace"):
        job.issue("option", "customWorkspace", "the job gets an empty /workspace per run")
    _scm(root.find("scm"), job)
    _properties(root.find("properties"), job)
    _triggers(root.find("triggers"), job)
    _builders(root.find("builders"), job)
    _publishers(root.find("publishers"), job)
    _wrappers(root.find("buildWrappers"), job)
    for child in root:
        if child.tag not in handled and child.tag not in IGNORED_ELEMENTS:
            job.issue("plugin", f"unknown element <{child.tag}>{_plugin(child)}")


def _read_pipeline(root: ET.Element, job: JenkinsJob) -> None:
    _common(root, job)
    _properties(root.find("properties"), job)
    _triggers(root.find("triggers"), job)
    definition = root.find("definition")
    if definition is None:
        raise XmlError("pipeline job without a <definition>")
    kind = definition.get("class", "")
    if kind.endswith("CpsScmFlowDefinition"):
        path = _text(definition, "scriptPath", "Jenkinsfile")
        raise ManualMigration(
            f"the pipeline script is in SCM ({path}); run the converter on that Jenkinsfile instead"
        )
    if not kind.endswith("CpsFlowDefinition"):
        raise ManualMigration(f"unsupported pipeline definition {kind or '(none)'}")
    read_jenkinsfile(_text(definition, "script"), job)
    if job.concurrent is None:
        job.concurrent = True
        job.mapped.append("concurrent builds allowed (pipeline default) -> max_active_runs=16")
    for child in root:
        if child.tag not in {"description", "disabled", "properties", "triggers", "definition"} | IGNORED_ELEMENTS:
            job.issue("plugin", f"unknown element <{child.tag}>{_plugin(child)}")


def _scm(scm: ET.Element | None, job: JenkinsJob) -> None:
    if scm is None or scm.get("class", "") == "hudson.scm.NullSCM":
        return
    url = _text(scm, ".//url")
    job.issue("scm", f"source checkout ({scm.get('class', 'scm')}{', ' + url if url else ''})",
              "build the code into the job's image in CI; the batch job gets no checkout")


def _properties(properties: ET.Element | None, job: JenkinsJob) -> None:
    if properties is None:
        return
    for prop in properties:
        tag = prop.tag
        if tag == "hudson.model.ParametersDefinitionProperty":
            for definition in prop.iter():
                if definition.tag.endswith("ParameterDefinition"):
                    _parameter(definition, job)
        elif tag == "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty":
            _triggers(prop.find("triggers"), job)
        elif tag == "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty":
            job.concurrent = False
            job.mapped.append("DisableConcurrentBuildsJobProperty -> max_active_runs=1")
        elif tag == "jenkins.model.BuildDiscarderProperty":
            job.issue("option", "build discarder", "Airflow keeps run history itself; Jobs are deleted after their TTL")
        else:
            job.issue("plugin", f"job property <{tag}>{_plugin(prop)}")


def _parameter(definition: ET.Element, job: JenkinsJob) -> None:
    tag = definition.tag.rsplit(".", 1)[-1]
    name = _text(definition, "name")
    description = job.scrub(_text(definition, "description"))
    if tag == "StringParameterDefinition":
        job.params.append(Param(name, "string", job.scrub(_text(definition, "defaultValue")), None, description))
    elif tag == "TextParameterDefinition":
        job.params.append(Param(name, "text", job.scrub(_text(definition, "defaultValue")), None, description))
    elif tag == "BooleanParameterDefinition":
        job.params.append(Param(name, "boolean", _bool(definition, "defaultValue"), None, description))
    elif tag == "ChoiceParameterDefinition":
        choices = [job.scrub((s.text or "").strip()) for s in definition.iter("string")]
        if not choices:  # newer Jenkins may store the choices as one newline-separated text
            choices = [c for c in _text(definition, "choices").split("\n") if c]
        job.params.append(Param(name, "choice", choices[0] if choices else None, choices, description))
    elif tag == "PasswordParameterDefinition":
        # The default is an encrypted secret: never read it. The value comes from a Kubernetes Secret.
        job.params.append(Param(name, "password", None, None, description))
    else:
        job.issue("parameter", f"{tag} {name!r}{_plugin(definition)}", "add an equivalent param to the spec by hand")


def _triggers(triggers: ET.Element | None, job: JenkinsJob) -> None:
    if triggers is None:
        return
    for trigger in triggers:
        tag = trigger.tag
        if tag == "hudson.triggers.TimerTrigger":
            spec = _text(trigger, "spec")
            job.timer_spec = spec if job.timer_spec is None else job.timer_spec + "\n" + spec
        elif tag == "hudson.triggers.SCMTrigger":
            job.issue("scm-polling", f"SCM polling {_text(trigger, 'spec')!r}",
                      "trigger the DAG from CI on push (Airflow REST API) instead of polling")
        elif tag == "jenkins.triggers.ReverseBuildTrigger":
            job.issue("trigger", f"started after upstream job(s) {_text(trigger, 'upstreamProjects')!r}",
                      "add this job to the upstream job's 'triggers' list instead")
        else:
            job.issue("plugin", f"trigger <{tag}>{_plugin(trigger)}")


def _builders(builders: ET.Element | None, job: JenkinsJob) -> None:
    if builders is None:
        return
    for builder in builders:
        tag = builder.tag
        if tag == "hudson.tasks.Shell":
            job.shell_steps.append(job.scrub(_raw_text(builder, "command")))
        elif tag == "hudson.tasks.BatchFile":
            job.issue("step", "Windows batch step", "Windows batch cannot run in the Linux batch container: rewrite it")
        elif tag == "hudson.tasks.Maven":
            job.issue("step", f"Maven step (targets {_text(builder, 'targets')!r})", "run Maven in the job's image with a shell command")
        else:
            job.issue("plugin", f"build step <{tag}>{_plugin(builder)}")


def _raw_text(element: ET.Element, path: str) -> str:
    found = element.find(path)
    return (found.text or "") if found is not None else ""


def _publishers(publishers: ET.Element | None, job: JenkinsJob) -> None:
    if publishers is None:
        return
    for publisher in publishers:
        tag = publisher.tag
        if tag == "hudson.tasks.Mailer":
            _emails(job, _text(publisher, "recipients"), "Mailer")
        elif tag == "hudson.plugins.emailext.ExtendedEmailPublisher":
            recipients = _text(publisher, "recipientList")
            if recipients and "$" not in recipients:
                _emails(job, recipients, "email-ext")
            else:
                job.issue("notification", f"email-ext recipients {recipients or '(none)'!r}",
                          "set notifications.email.to in the spec")
            triggers = [t.tag.rsplit(".", 1)[-1] for t in publisher.iter() if t.tag.endswith("Trigger")]
            other = [t for t in triggers if t not in ("FailureTrigger", "AlwaysTrigger", "StillFailingTrigger", "FirstFailureTrigger")]
            if other:
                job.issue("notification", f"email-ext triggers {other}", "notifications are sent on failure only")
        elif tag == "jenkins.plugins.slack.SlackNotifier":
            channel = _text(publisher, "room") or _text(publisher, "channel")
            if channel:
                job.slack_channel = channel.split(",")[0].strip()
                job.mapped.append(f"Slack notifier -> Slack notification to {job.slack_channel}")
            else:
                job.issue("notification", "Slack notifier without a channel", "set notifications.slack.channel")
            if _bool(publisher, "notifySuccess") or _bool(publisher, "notifyBackToNormal"):
                job.issue("notification", "Slack success/back-to-normal messages", "notifications are sent on failure only")
        elif tag == "hudson.tasks.BuildTrigger":
            threshold = _text(publisher, "threshold/name", "SUCCESS")
            when = {"SUCCESS": "success", "UNSTABLE": "success", "FAILURE": "always"}.get(threshold, "success")
            for child in _split_names(_text(publisher, "childProjects")):
                job.triggers.append(Trigger(_resolve(job.full_name, child), when))
                job.mapped.append(f"downstream {child} (threshold {threshold}) -> TriggerDagRunOperator ({when})")
        elif tag == "hudson.plugins.parameterizedtrigger.BuildTrigger":
            for config in publisher.iter("hudson.plugins.parameterizedtrigger.BuildTriggerConfig"):
                _parameterized_trigger(config, job)
        elif tag == "hudson.plugins.naginator.NaginatorPublisher":
            _naginator(publisher, job)
        else:
            job.issue("plugin", f"post-build action <{tag}>{_plugin(publisher)}")


def _emails(job: JenkinsJob, recipients: str, source: str) -> None:
    addresses = [a for a in re.split(r"[,\s]+", recipients) if a]
    for address in addresses:
        if address not in job.emails:
            job.emails.append(address)
    if addresses:
        job.mapped.append(f"{source} to {', '.join(addresses)} -> e-mail notification on failure")


def _split_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _resolve(full_name: str, reference: str) -> str:
    """A job reference as Jenkins resolves it: absolute (/a/b), or relative to the job's folder."""
    if reference.startswith("/"):
        return reference.strip("/")
    parts = full_name.split("/")[:-1]
    for piece in reference.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _parameterized_trigger(config: ET.Element, job: JenkinsJob) -> None:
    condition = _text(config, "condition", "SUCCESS")
    when = {"SUCCESS": "success", "UNSTABLE_OR_BETTER": "success", "ALWAYS": "always", "FAILED": "failure",
            "UNSTABLE_OR_WORSE": "failure"}.get(condition)
    if when is None:
        job.issue("trigger", f"parameterized trigger condition {condition}", "pick success, failure or always in the spec")
        when = "success"
    conf: dict[str, str] = {}
    for block in config.find("configs") if config.find("configs") is not None else []:
        kind = block.tag.rsplit(".", 1)[-1]
        if kind == "PredefinedBuildParameters":
            for line in _raw_text(block, "properties").splitlines():
                key, sep, value = line.partition("=")
                if sep and key.strip():
                    conf[key.strip()] = _jenkins_var_to_jinja(job.scrub(value.strip()))
        elif kind == "CurrentBuildParameters":
            for param in job.params:
                if param.type != "password":
                    conf.setdefault(param.name, "{{ params." + param.name + " }}")
        else:
            job.issue("trigger", f"parameterized trigger parameters {kind}{_plugin(block)}")
    for target in _split_names(_text(config, "projects")):
        job.triggers.append(Trigger(_resolve(job.full_name, target), when, dict(conf)))
        job.mapped.append(f"parameterized trigger {target} ({condition}) -> TriggerDagRunOperator ({when})")


def _jenkins_var_to_jinja(value: str) -> str:
    """``$PARAM`` / ``${PARAM}`` in trigger parameters -> the same run's Airflow param."""
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: "{{ params." + m.group(1) + " }}", value)


def _naginator(publisher: ET.Element, job: JenkinsJob) -> None:
    retries = int(_text(publisher, "maxSchedule", "0") or 0)
    delay = publisher.find("delay")
    delay_seconds = None
    if delay is not None and delay.get("class", "").endswith("FixedDelay"):
        delay_seconds = int(_text(delay, "delay", "0") or 0)
    elif delay is not None and delay.get("class", "").endswith("ProgressiveDelay"):
        delay_seconds = int(_text(delay, "increment", "0") or 0)
        job.issue("option", "naginator progressive delay", f"a fixed delay of {delay_seconds}s is used between retries")
    job.retries = retries
    job.retry_delay_seconds = delay_seconds
    job.mapped.append(f"naginator maxSchedule={retries} -> retries={retries}")
    if _text(publisher, "regexpForRerun") and _bool(publisher, "checkRegexp"):
        job.issue("option", f"naginator retries only on log match {_text(publisher, 'regexpForRerun')!r}", "Airflow retries on every failure")
    if _bool(publisher, "rerunIfUnstable"):
        job.issue("option", "naginator reruns unstable builds", "there is no 'unstable' state: a run succeeds or fails")


def _wrappers(wrappers: ET.Element | None, job: JenkinsJob) -> None:
    if wrappers is None:
        return
    for wrapper in wrappers:
        tag = wrapper.tag
        if tag == "hudson.plugins.build__timeout.BuildTimeoutWrapper":
            strategy = wrapper.find("strategy")
            kind = strategy.get("class", "") if strategy is not None else ""
            if kind.endswith("AbsoluteTimeOutStrategy"):
                minutes = int(_text(strategy, "timeoutMinutes", "0") or 0)
                job.timeout_minutes = max(minutes, 1)
                job.mapped.append(f"build-timeout absolute {minutes} min -> execution_timeout / activeDeadlineSeconds")
            else:
                job.issue("option", f"build-timeout strategy {kind.rsplit('.', 1)[-1] or '?'}",
                          "only absolute timeouts map; set timeout_minutes in the spec")
        elif tag in COSMETIC_WRAPPERS:
            job.issue("option", f"{tag.rsplit('.', 1)[-1]}", "cosmetic in Jenkins; nothing to do")
        elif tag == "org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper":
            variables = sorted(
                (v.text or "").strip()
                for v in wrapper.iter()
                if v.tag in ("variable", "usernameVariable", "passwordVariable", "keyFileVariable") and v.text
            )
            job.issue("credentials", f"credentials bound to {', '.join(variables) or 'variables'}",
                      "put the credentials in a Kubernetes Secret and list them under secret_env")
        else:
            job.issue("plugin", f"build wrapper <{tag}>{_plugin(wrapper)}")
