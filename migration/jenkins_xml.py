"""Jenkins ``config.xml`` files: freestyle projects and pipeline jobs read into a ``JenkinsJob``.

Each element the converter understands is mapped (and noted in ``job.mapped``); each element it does
not understand is recorded as an issue naming the element and its plugin, so the report lists every
piece of the job that needs a human. Encrypted secrets (``{AQAAAB...}``) and password parameter
defaults are never read into the output.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from xml.parsers import expat

from migration import knowledge
from migration.jenkinsfile import read_jenkinsfile
from migration.model import ConversionError, JenkinsJob, ManualMigration, Param, ScmScript, Trigger

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
RAW_XML_LIMIT = 4000  # characters of an unknown element kept in the report
ENVINJECT_TAGS = {"EnvInjectJobProperty", "EnvInjectBuilder", "EnvInjectBuildWrapper"}
# Jenkins result thresholds (hudson.model.Result), worst last.
RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED")


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


def _short(tag: str) -> str:
    return tag.rsplit(".", 1)[-1]


def _raw_xml(element: ET.Element) -> str:
    text = ET.tostring(element, encoding="unicode").strip()
    return text if len(text) <= RAW_XML_LIMIT else text[:RAW_XML_LIMIT] + f"... ({len(text)} characters in all)"


def unhandled(element: ET.Element, job: JenkinsJob, where: str) -> None:
    """An element no reader maps: classify it with the plugin knowledge base, keep it if unknown."""
    entry = knowledge.lookup(element.tag)
    label = f"{where} {_short(element.tag)}"
    if entry is None:
        job.issue("plugin", f"{where} <{element.tag}>{_plugin(element)}: not in the plugin knowledge base",
                  "its XML is kept below: decide what it did and add the equivalent to the spec", raw=_raw_xml(element))
    elif entry.cls == "no-op":
        job.noop(label, entry.mapping, entry.source)
    elif entry.cls == "manual":
        raise ManualMigration(f"{label} ({entry.plugin}): {entry.does} {entry.mapping}")
    else:  # review, or a mapped element in a place its reader does not look
        job.issue("plugin", f"{label} ({entry.plugin}): {entry.does}", entry.question or entry.mapping, entry.source)


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


def read_config(root: ET.Element, job: JenkinsJob, checkouts: Mapping[str, Path] | None = None) -> None:
    """Fill ``job`` from a parsed config.xml root (freestyle ``project`` or pipeline ``flow-definition``).

    ``checkouts`` maps repository URLs (normalized) to local checkouts, for pipelines whose Jenkinsfile is in SCM.
    """
    if root.tag in MANUAL_TYPES:
        # Read what can be read, so the report still shows the schedule, parameters and links.
        _common(root, job)
        _properties(root.find("properties"), job)
        _triggers(root.find("triggers"), job)
        _publishers(root.find("publishers"), job)
        raise ManualMigration(f"{root.tag}: {MANUAL_TYPES[root.tag]}")
    if root.tag == "project":
        job.kind = "freestyle"
        _read_freestyle(root, job)
    elif root.tag == "flow-definition":
        job.kind = "pipeline"
        _read_pipeline(root, job, checkouts)
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
            unhandled(child, job, "element")


def normalize_repository_url(url: str) -> str:
    """A repository URL as --checkout and config.xml are compared: no trailing slash or .git."""
    url = url.strip().rstrip("/")
    return url[:-4] if url.endswith(".git") else url


def _scm_pipeline(definition: ET.Element, job: JenkinsJob, checkouts: Mapping[str, Path]) -> None:
    """A Jenkinsfile from SCM: read it from a local checkout when given; config.xml settings stay otherwise."""
    url = _text(definition, "scm//url")
    branch = _text(definition, "scm/branches/hudson.plugins.git.BranchSpec/name", "(default branch)")
    script_path = _text(definition, "scriptPath", "Jenkinsfile")
    job.scm_script = ScmScript(url, branch, script_path)
    directory = checkouts.get(normalize_repository_url(url)) if url else None
    if directory is None:
        return  # convert() writes a paused spec that keeps the schedule and parameters, and says how to finish
    base = directory.resolve()
    file = (base / script_path).resolve()
    if base not in file.parents:
        raise ConversionError(f"scriptPath {script_path!r} points outside the checkout {directory}")
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConversionError(f"--checkout {url}={directory}: cannot read {script_path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConversionError(f"{file}: not UTF-8 text") from None
    # The Jenkinsfile wins where both say something (Jenkins rewrites the job's properties from the
    # pipeline's directives on every run); what only config.xml says is kept, and the origin noted.
    from_config = {"schedule": job.timer_spec, "params": job.params, "concurrent": job.concurrent}
    job.timer_spec, job.params, job.concurrent = None, [], None
    read_jenkinsfile(text, job)
    job.scm_script.read = True
    job.mapped.append(f"pipeline script {script_path} read from the checkout of {url} ({branch})")
    for item, kept in (("schedule", "timer_spec"), ("params", "params"), ("concurrent", "concurrent")):
        if getattr(job, kept) in (None, []) and from_config[item] not in (None, []):
            setattr(job, kept, from_config[item])
            job.mapped.append(f"{item} from config.xml (the Jenkinsfile does not set it)")
        elif from_config[item] not in (None, []) and getattr(job, kept) != from_config[item]:
            job.mapped.append(f"{item} from the Jenkinsfile (it replaces config.xml's)")


def _read_pipeline(root: ET.Element, job: JenkinsJob, checkouts: Mapping[str, Path] | None = None) -> None:
    _common(root, job)
    _properties(root.find("properties"), job)
    _triggers(root.find("triggers"), job)
    definition = root.find("definition")
    if definition is None:
        raise XmlError("pipeline job without a <definition>")
    kind = definition.get("class", "")
    if kind.endswith("CpsScmFlowDefinition"):
        _scm_pipeline(definition, job, checkouts or {})
    elif not kind.endswith("CpsFlowDefinition"):
        raise ManualMigration(f"unsupported pipeline definition {kind or '(none)'}")
    else:
        read_jenkinsfile(_text(definition, "script"), job)
    if job.concurrent is None:
        job.concurrent = True
        job.mapped.append("concurrent builds allowed (pipeline default) -> max_active_runs=16")
    for child in root:
        if child.tag not in {"description", "disabled", "properties", "triggers", "definition"} | IGNORED_ELEMENTS:
            unhandled(child, job, "element")


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
        elif tag == "hudson.plugins.throttleconcurrents.ThrottleJobProperty":
            _throttle(prop, job)
        elif _short(tag) in ENVINJECT_TAGS:
            _envinject(prop, job, "job property EnvInject")
        else:
            unhandled(prop, job, "job property")


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
            _reverse_trigger(trigger, job)
        else:
            unhandled(trigger, job, "trigger")


def _builders(builders: ET.Element | None, job: JenkinsJob) -> None:
    if builders is None:
        return
    for index, builder in enumerate(builders):
        tag = builder.tag
        if tag == "hudson.tasks.Shell":
            job.shell_steps.append(job.scrub(_raw_text(builder, "command")))
        elif tag == "hudson.tasks.BatchFile":
            job.issue("step", "Windows batch step", "Windows batch cannot run in the Linux batch container: rewrite it")
        elif tag == "hudson.tasks.Maven":
            job.issue("step", f"Maven step (targets {_text(builder, 'targets')!r})", "run Maven in the job's image with a shell command")
        elif tag == "hudson.plugins.parameterizedtrigger.TriggerBuilder":
            if index < len(builders) - 1 and any(b.tag != tag for b in list(builders)[index + 1 :]):
                job.issue("trigger", "a trigger build step comes before other build steps",
                          "downstream jobs now start after the whole command; move the steps that must follow "
                          "the downstream jobs into a job of their own")
            for config in builder.iter("hudson.plugins.parameterizedtrigger.BlockableBuildTriggerConfig"):
                _parameterized_trigger(config, job, blocking=config.find("block"))
        elif _short(tag) in ENVINJECT_TAGS:
            _envinject(builder, job, "build step EnvInject")
        else:
            unhandled(builder, job, "build step")


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
            failure = ("FailureTrigger", "AlwaysTrigger", "StillFailingTrigger", "FirstFailureTrigger",
                       "SecondFailureTrigger", "XFailureTrigger", "FailureTrigger")
            other = sorted({t for t in triggers if t not in failure})
            if other:
                job.issue("notification", f"email-ext triggers {other}",
                          "mail is sent on failure only: should success or recovery also notify? If so, add an "
                          "on_success notification to the DAG library for this job; unstable has no equivalent",
                          "https://plugins.jenkins.io/email-ext/")
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
                job.triggers.append(Trigger(_resolve(job.full_name, child), when, origin=f"BuildTrigger ({threshold})"))
                job.mapped.append(f"downstream {child} (threshold {threshold}) -> TriggerDagRunOperator ({when})")
        elif tag == "hudson.plugins.parameterizedtrigger.BuildTrigger":
            for config in publisher.iter("hudson.plugins.parameterizedtrigger.BuildTriggerConfig"):
                _parameterized_trigger(config, job)
        elif tag == "hudson.plugins.naginator.NaginatorPublisher":
            _naginator(publisher, job)
        else:
            unhandled(publisher, job, "post-build action")


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


def _parameterized_trigger(config: ET.Element, job: JenkinsJob, blocking: ET.Element | None = None) -> None:
    """One trigger config of parameterized-trigger: a post-build action, or a (possibly blocking) build step."""
    is_step = config.tag.endswith("BlockableBuildTriggerConfig")
    condition = _text(config, "condition", "SUCCESS") if not is_step else "ALWAYS"
    when = {"SUCCESS": "success", "UNSTABLE_OR_BETTER": "success", "ALWAYS": "always", "FAILED": "failure",
            "UNSTABLE_OR_WORSE": "failure", "UNSTABLE": "success"}.get(condition)
    if when is None:
        job.issue("trigger", f"parameterized trigger condition {condition}", "pick success, failure or always in the spec")
        when = "success"
    if condition == "UNSTABLE":
        job.issue("trigger", "parameterized trigger on UNSTABLE only",
                  "there is no unstable state: the trigger fires on success; decide whether that is wanted")
    # As a build step the trigger runs when the steps before it passed (the batch command succeeded).
    if is_step:
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
        elif kind == "BooleanParameters":
            for item in block.iter("hudson.plugins.parameterizedtrigger.BooleanParameterConfig"):
                if _text(item, "name"):
                    conf[_text(item, "name")] = "true" if _bool(item, "value") else "false"
        else:
            job.issue("trigger", f"parameterized trigger parameters {kind}{_plugin(block)}",
                      "pass those values as conf of the trigger in the spec")
    wait, propagate, origin = False, True, f"parameterized trigger ({condition})"
    if blocking is not None:
        wait = True
        step_failure = _text(blocking, "buildStepFailureThreshold/name")
        build_failure = _text(blocking, "failureThreshold/name")
        unstable = _text(blocking, "unstableThreshold/name")
        # "Fail this build step if the downstream result is worse or equal to FAILURE" is Airflow's
        # failed_states; marking the build failed (but continuing) ends the same way when the trigger is
        # the last step. Thresholds at UNSTABLE have no equivalent.
        propagate = "FAILURE" in (step_failure, build_failure)
        for label, value in (("build step failure", step_failure), ("build failure", build_failure)):
            if value == "UNSTABLE":
                job.issue("trigger", f"blocking trigger: {label} threshold UNSTABLE",
                          "there is no unstable state: the downstream run fails or succeeds; the trigger fails on failure")
                propagate = True
        if unstable:
            job.noop(f"blocking trigger: unstable threshold {unstable}", "there is no unstable state to mark")
        origin = "blocking trigger build step " + ("(fails with downstream)" if propagate else "(waits, ignores result)")
    elif is_step:
        origin = "trigger build step (not blocking)"
    for target in _split_names(_text(config, "projects")):
        job.triggers.append(Trigger(_resolve(job.full_name, target), when, dict(conf), wait, propagate, origin))
        job.mapped.append(
            f"{origin} {target} -> TriggerDagRunOperator ({when}"
            + (", wait_for_completion" + (", fails when it fails" if propagate else "") if wait else "") + ")"
        )


def _reverse_trigger(trigger: ET.Element, job: JenkinsJob) -> None:
    """ReverseBuildTrigger: this job runs after upstream jobs finish with at least a result."""
    threshold = _text(trigger, "threshold/name", "SUCCESS")
    upstream = [_resolve(job.full_name, name) for name in _split_names(_text(trigger, "upstreamProjects"))]
    if not upstream:
        job.issue("trigger", "ReverseBuildTrigger without upstream projects", "nothing to map")
        return
    if threshold == "FAILURE":
        job.issue("trigger", f"started after {', '.join(upstream)} even when they fail",
                  "the DAG runs after each upstream success (its Asset); add a trigger with when: always "
                  "to the upstream spec if it must also run after a failure",
                  "https://www.jenkins.io/doc/book/pipeline/syntax/#triggers")
    for name in upstream:
        if name not in job.upstream:
            job.upstream.append(name)
    job.mapped.append(
        f"ReverseBuildTrigger {', '.join(upstream)} (threshold {threshold}) -> scheduled on the upstream jobs' "
        "Assets (emitted when their batch task succeeds)"
    )


def _throttle(prop: ET.Element, job: JenkinsJob) -> None:
    source = "https://plugins.jenkins.io/throttle-concurrents/"
    if not _bool(prop, "throttleEnabled", True):
        job.noop("job property ThrottleJobProperty (disabled)", "throttling is switched off", source)
        return
    option = _text(prop, "throttleOption", "project")
    total = int(_text(prop, "maxConcurrentTotal", "0") or 0)
    per_node = int(_text(prop, "maxConcurrentPerNode", "0") or 0)
    categories = [(s.text or "").strip() for s in prop.iter("string") if (s.text or "").strip()]
    if option == "category" and categories:
        job.issue("throttle", f"throttle categories {categories}",
                  "their limits live in Jenkins' global configuration: create an Airflow pool per category with "
                  "that limit and put the jobs of the category in it", source)
    elif total > 0:
        job.max_active_runs = total
        job.mapped.append(f"throttle-concurrents maxConcurrentTotal={total} -> max_active_runs={total}")
    if per_node > 0:
        job.noop(f"throttle-concurrents maxConcurrentPerNode={per_node}",
                 "each run is its own pod; the node group's capacity and the namespace quota bound placement", source)
    if _bool(prop, "limitOneJobWithMatchingParams"):
        job.issue("throttle", "throttle: one build per matching parameter values",
                  "no Airflow equivalent: decide whether runs with equal parameters may overlap", source)


def _envinject(element: ET.Element, job: JenkinsJob, label: str) -> None:
    """EnvInject: static KEY=VALUE properties become env; files and scripts are decisions."""
    source = "https://plugins.jenkins.io/envinject/"
    info = element.find("info")
    if element.tag == "EnvInjectJobProperty" and not _bool(element, "on", True):
        job.noop(f"{label} (disabled)", "switched off in Jenkins", source)
        return
    content = _raw_text(info, "propertiesContent") if info is not None else ""
    for line in content.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = (line.partition("=") if "=" in line else line.partition(":"))
        key, value = key.strip(), job.scrub(value.strip())
        if not sep or not key:
            job.issue("variable", f"{label}: line {line!r} is not KEY=VALUE", "add it to env by hand", source)
        elif "$" in value:
            job.issue("variable", f"{label}: {key} refers to other variables ({value!r})",
                      "Kubernetes expands $(VAR), Jenkins ${VAR}: write the value in env with $(VAR)", source)
        else:
            job.env[key] = value
            job.mapped.append(f"{label} {key} -> env {key}")
    for field_name in ("propertiesFilePath", "scriptFilePath", "scriptContent"):
        value = _text(info, field_name) if info is not None else ""
        if value:
            job.issue("variable", f"{label}: {field_name} {job.scrub(value)!r}",
                      "the file or script is not available to the batch container: put its values in env, or run "
                      "it at the start of the command", source)
    groovy = info.find(".//secureGroovyScript/script") if info is not None else None
    if groovy is not None and (groovy.text or "").strip():
        job.issue("groovy", f"{label}: Groovy script computing variables", "compute them in the command", source)


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
        elif _short(tag) in ENVINJECT_TAGS:
            _envinject(wrapper, job, "build wrapper EnvInject")
        elif tag == "org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper":
            variables = sorted(
                (v.text or "").strip()
                for v in wrapper.iter()
                if v.tag in ("variable", "usernameVariable", "passwordVariable", "keyFileVariable") and v.text
            )
            job.issue("credentials", f"credentials bound to {', '.join(variables) or 'variables'}",
                      "put the credentials in a Kubernetes Secret and list them under secret_env")
        else:
            unhandled(wrapper, job, "build wrapper")
