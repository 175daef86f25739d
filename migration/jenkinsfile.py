"""Declarative Jenkinsfiles: a small parser for the ``pipeline { ... }`` subset and its interpretation.

Declarative pipelines are a fixed structure of directives (agent, options, triggers, parameters,
environment, stages/steps, post), so they can be read without running Groovy. This module parses that
structure into nested blocks and calls, then maps the directives it knows onto a ``JenkinsJob``.
Anything else - ``script { }`` blocks, ``when`` conditions, Groovy expressions in strings, unknown
steps - is recorded as an issue for the report, never dropped. A scripted pipeline (``node { ... }``
or anything that is not a single ``pipeline`` block) is refused as manual work: it is a Groovy
program, and converting it automatically would be guessing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from migration import knowledge
from migration.model import ConversionError, JenkinsJob, ManualMigration, Param, Trigger


class JenkinsfileSyntaxError(ConversionError):
    pass


# --- tokens --------------------------------------------------------------------------------------


@dataclass
class Tok:
    kind: str  # IDENT NUM STR NL PUNCT OP
    value: Any
    line: int
    interpolated: bool = False  # a double-quoted Groovy string containing ${...} or $name


_PUNCT = set("{}()[],:;=")
_IDENT_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*")
_NUM_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
_GSTRING_EXPR_RE = re.compile(r"(?<!\\)\$(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_.]*)")


def tokenize(text: str) -> list[Tok]:
    tokens: list[Tok] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            tokens.append(Tok("NL", "\n", line))
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise JenkinsfileSyntaxError(f"line {line}: unterminated /* comment")
            line += text.count("\n", i, end)
            i = end + 2
        elif text.startswith("'''", i) or text.startswith('"""', i):
            quote = text[i : i + 3]
            end = text.find(quote, i + 3)
            if end < 0:
                raise JenkinsfileSyntaxError(f"line {line}: unterminated {quote} string")
            raw = text[i + 3 : end]
            tokens.append(_string_token(raw, quote[0], line))
            line += raw.count("\n")
            i = end + 3
        elif c in "'\"":
            j = i + 1
            buf = []
            while j < n and text[j] != c:
                if text[j] == "\n":
                    raise JenkinsfileSyntaxError(f"line {line}: unterminated string")
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j : j + 2])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            if j >= n:
                raise JenkinsfileSyntaxError(f"line {line}: unterminated string")
            tokens.append(_string_token("".join(buf), c, line))
            i = j + 1
        elif c in _PUNCT:
            tokens.append(Tok("PUNCT", c, line))
            i += 1
        elif (m := _IDENT_RE.match(text, i)) is not None:
            value = m.group()
            kind = "IDENT"
            if value in ("true", "false"):
                tokens.append(Tok("BOOL", value == "true", line))
            else:
                tokens.append(Tok(kind, value, line))
            i = m.end()
        elif (m := _NUM_RE.match(text, i)) is not None:
            tokens.append(Tok("NUM", float(m.group()) if "." in m.group() else int(m.group()), line))
            i = m.end()
        else:
            tokens.append(Tok("OP", c, line))
            i += 1
    return tokens


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', "$": "\\$"}


def _string_token(raw: str, quote: str, line: int) -> Tok:
    value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), raw)
    interpolated = quote == '"' and _GSTRING_EXPR_RE.search(raw) is not None
    return Tok("STR", value, line, interpolated)


# --- syntax tree ---------------------------------------------------------------------------------


@dataclass
class GString:
    """A double-quoted string with ``${...}`` parts: Groovy evaluates it before the step sees it."""

    text: str


@dataclass
class Expr:
    """A value the parser does not evaluate (a Groovy expression); ``text`` is its source."""

    text: str


@dataclass
class Node:
    name: str
    line: int
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    body: list[Node] | None = None  # None: a call; a list: a block
    assigned: Any = None  # for `NAME = value` (environment)


class _Parser:
    def __init__(self, tokens: list[Tok]):
        self.t = tokens
        self.i = 0

    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.t[j] if j < len(self.t) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise JenkinsfileSyntaxError("unexpected end of file")
        self.i += 1
        return tok

    def is_punct(self, value: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == "PUNCT" and tok.value == value

    def skip_separators(self) -> None:
        while (tok := self.peek()) is not None and (tok.kind == "NL" or (tok.kind == "PUNCT" and tok.value == ";")):
            self.i += 1

    def skip_newlines(self) -> None:
        while (tok := self.peek()) is not None and tok.kind == "NL":
            self.i += 1

    def statements(self, closing: bool) -> list[Node]:
        nodes: list[Node] = []
        while True:
            self.skip_separators()
            tok = self.peek()
            if tok is None:
                if closing:
                    raise JenkinsfileSyntaxError("missing '}' at end of file")
                return nodes
            if tok.kind == "PUNCT" and tok.value == "}":
                if not closing:
                    raise JenkinsfileSyntaxError(f"line {tok.line}: unexpected '}}'")
                self.i += 1
                return nodes
            nodes.append(self.statement())

    def statement(self) -> Node:
        tok = self.peek()
        if tok.kind != "IDENT":
            return self.raw_statement()
        name = self.take().value
        node = Node(name=name, line=tok.line)
        if self.is_punct("="):
            self.take()
            node.assigned = self.value()
            return node
        if self.is_punct("("):
            self.take()
            self.arguments(node, closing=")")
        elif not self.at_statement_end() and not self.is_punct("{"):
            self.arguments(node, closing=None)
        self.skip_newlines_before_brace()
        if self.is_punct("{"):
            self.take()
            node.body = self.statements(closing=True)
        return node

    def skip_newlines_before_brace(self) -> None:
        j = self.i
        while j < len(self.t) and self.t[j].kind == "NL":
            j += 1
        if j < len(self.t) and self.t[j].kind == "PUNCT" and self.t[j].value == "{":
            self.i = j

    def at_statement_end(self) -> bool:
        tok = self.peek()
        return tok is None or tok.kind == "NL" or (tok.kind == "PUNCT" and tok.value in ";}")

    def raw_statement(self) -> Node:
        """Consume an unparseable statement to the end of its line (balancing brackets)."""
        first = self.peek()
        if first.kind == "PUNCT" and first.value in ")]":
            raise JenkinsfileSyntaxError(f"line {first.line}: unexpected {first.value!r}")
        parts: list[str] = []
        depth = 0
        while (tok := self.peek()) is not None:
            if tok.kind == "PUNCT" and tok.value in "{([":
                depth += 1
            elif tok.kind == "PUNCT" and tok.value in "})]":
                if depth == 0:
                    break
                depth -= 1
            elif tok.kind == "NL" and depth == 0:
                break
            parts.append(repr(tok.value) if tok.kind == "STR" else str(tok.value))
            self.i += 1
        return Node(name="<expression>", line=first.line, args=[Expr(" ".join(parts))])

    def arguments(self, node: Node, closing: str | None) -> None:
        while True:
            if closing is not None:
                self.skip_newlines()
                if self.is_punct(closing):
                    self.take()
                    return
            elif self.at_statement_end() or self.is_punct("{"):
                return
            tok = self.peek()
            nxt = self.peek(1)
            start = self.i
            if tok is not None and tok.kind in ("IDENT", "STR") and nxt is not None and nxt.kind == "PUNCT" and nxt.value == ":":
                self.i += 2
                self.skip_newlines()
                node.kwargs[str(tok.value)] = self.value()
            else:
                node.args.append(self.value())
            self._progress(start, node.name)
            if closing is not None:
                self.skip_newlines()
            if self.is_punct(","):
                self.take()
                if closing is None:
                    self.skip_newlines()
            elif closing is not None and not self.is_punct(closing):
                bad = self.peek()
                raise JenkinsfileSyntaxError(
                    f"line {bad.line if bad else '?'}: expected ',' or '{closing}' in the arguments of {node.name}"
                )

    def _progress(self, start: int, where: str) -> None:
        """Guard against loops on input the grammar does not expect: fail with the line instead."""
        if self.i == start:
            tok = self.peek()
            line = tok.line if tok else "?"
            shown = tok.value if tok else "end of file"
            raise JenkinsfileSyntaxError(f"line {line}: unexpected {shown!r} in {where}")

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise JenkinsfileSyntaxError("unexpected end of file in a value")
        if tok.kind == "STR":
            self.take()
            value: Any = GString(tok.value) if tok.interpolated else tok.value
        elif tok.kind in ("NUM", "BOOL"):
            self.take()
            value = tok.value
        elif tok.kind == "PUNCT" and tok.value == "[":
            value = self.list_or_map()
        elif tok.kind == "IDENT":
            self.take()
            if self.is_punct("("):
                self.take()
                call = Node(name=tok.value, line=tok.line)
                self.arguments(call, closing=")")
                value = call
            else:
                value = Expr(tok.value)
        else:
            return self.expression()
        # Anything after a value other than a separator makes it an expression (`a + b`, `x ?: y`).
        if not self.at_value_end():
            rest = self.expression()
            return Expr(f"{_show(value)} {rest.text}")
        return value

    def at_value_end(self) -> bool:
        tok = self.peek()
        return tok is None or tok.kind == "NL" or (tok.kind == "PUNCT" and tok.value in ",)];}{")

    def expression(self) -> Expr:
        parts: list[str] = []
        depth = 0
        while (tok := self.peek()) is not None:
            if depth == 0 and (tok.kind == "NL" or (tok.kind == "PUNCT" and tok.value in ",)];}{")):
                break
            if tok.kind == "PUNCT" and tok.value in "([":
                depth += 1
            elif tok.kind == "PUNCT" and tok.value in ")]":
                depth -= 1
            parts.append(repr(tok.value) if tok.kind == "STR" else str(tok.value))
            self.i += 1
        return Expr(" ".join(parts))

    def list_or_map(self) -> list | dict:
        self.take()  # [
        items: list[Any] = []
        mapping: dict[str, Any] = {}
        while True:
            self.skip_newlines()
            if self.is_punct("]"):
                self.take()
                return mapping if mapping else items
            if self.is_punct(":") and self.is_punct("]", 1):  # [:] empty map
                self.i += 2
                return {}
            tok, nxt = self.peek(), self.peek(1)
            if tok is not None and tok.kind in ("IDENT", "STR") and nxt is not None and nxt.kind == "PUNCT" and nxt.value == ":":
                self.i += 2
                self.skip_newlines()
                mapping[str(tok.value)] = self.value()
            else:
                start = self.i
                items.append(self.value())
                self._progress(start, "a list")
            self.skip_newlines()
            if self.is_punct(","):
                self.take()
            elif not self.is_punct("]"):
                bad = self.peek()
                raise JenkinsfileSyntaxError(f"line {bad.line if bad else '?'}: expected ',' or ']' in a list")


def parse(text: str) -> list[Node]:
    """The top-level statements of a Jenkinsfile."""
    return _Parser(tokenize(text)).statements(closing=False)


def _show(value: Any) -> str:
    if isinstance(value, GString):
        return f'"{value.text}"'
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, Node):
        return f"{value.name}(...)"
    return repr(value)


# --- interpretation ------------------------------------------------------------------------------

TIME_UNITS_IN_MINUTES = {"SECONDS": 1 / 60, "MINUTES": 1, "HOURS": 60, "DAYS": 1440}


def read_jenkinsfile(text: str, job: JenkinsJob) -> None:
    """Map a declarative pipeline onto ``job``; raise ManualMigration for scripted pipelines."""
    if not text.strip():
        raise JenkinsfileSyntaxError("the Jenkinsfile is empty: no pipeline to convert")
    nodes = parse(text)
    pipelines = [n for n in nodes if n.name == "pipeline" and n.body is not None]
    others = [n for n in nodes if n not in pipelines]
    if not pipelines:
        names = ", ".join(sorted({n.name for n in nodes})) or "nothing"
        raise ManualMigration(
            f"scripted pipeline (top level: {names}) is not supported; only declarative "
            "'pipeline { ... }' is converted - migrate this job by hand"
        )
    if len(pipelines) > 1:
        raise JenkinsfileSyntaxError("more than one 'pipeline' block")
    for node in others:
        job.issue("groovy", f"line {node.line}: top-level Groovy outside the pipeline block: {_describe(node)}",
                  "shared code or variables: fold what the job needs into its command")
    _Pipeline(job).read(pipelines[0])


def _describe(node: Node) -> str:
    if node.name == "<expression>":
        return node.args[0].text
    return node.name + ("(...)" if node.args or node.kwargs else "") + (" { ... }" if node.body is not None else "")


def _literal(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Pipeline:
    def __init__(self, job: JenkinsJob):
        self.job = job

    def read(self, pipeline: Node) -> None:
        for node in pipeline.body:
            handler = getattr(self, "directive_" + node.name, None)
            if handler is None:
                self.job.issue("directive", f"line {node.line}: unsupported pipeline directive {_describe(node)}")
            else:
                handler(node)

    # agent -------------------------------------------------------------------------------------
    def directive_agent(self, node: Node) -> None:
        if node.body is None:
            target = node.args[0].text if node.args and isinstance(node.args[0], Expr) else _show(node.args[0]) if node.args else ""
            if target in ("any", "none"):
                self.job.mapped.append(f"agent {target} -> the batch node group")
            else:
                self.job.issue("node-label", f"line {node.line}: agent {target}", "jobs run on the batch node group")
            return
        for inner in node.body:
            if inner.name == "label":
                self.job.issue("node-label", f"line {inner.line}: agent label {_show(inner.args[0]) if inner.args else ''}",
                               "jobs run on the batch node group; put what the label provided into the image")
            elif inner.name == "docker" and inner.body is not None:
                image = next((_literal(i.args[0]) for i in inner.body if i.name == "image" and i.args), None)
                if image:
                    self.job.docker_image = image
                    self.job.mapped.append(f"agent docker image {image} -> the job's container image")
                for other in (i for i in inner.body if i.name != "image"):
                    self.job.issue("agent", f"line {other.line}: docker agent option {_describe(other)}")
            elif inner.name == "docker" and inner.args and _literal(inner.args[0]):
                self.job.docker_image = inner.args[0]
                self.job.mapped.append(f"agent docker image {inner.args[0]} -> the job's container image")
            else:
                self.job.issue("agent", f"line {inner.line}: agent {_describe(inner)}", "jobs run on the batch node group")

    # options -----------------------------------------------------------------------------------
    def directive_options(self, node: Node) -> None:
        for option in node.body or []:
            if option.name == "timeout":
                self._timeout(option)
            elif option.name == "retry" and option.args and isinstance(option.args[0], int):
                attempts = option.args[0]
                self.job.retries = max(attempts - 1, 0)
                self.job.mapped.append(f"options retry({attempts}) -> retries={self.job.retries} ({attempts} attempts)")
            elif option.name == "disableConcurrentBuilds":
                self.job.concurrent = False
                self.job.mapped.append("disableConcurrentBuilds() -> max_active_runs=1")
            else:
                self._known_option(option)

    def _known_option(self, option: Node) -> None:
        entry = knowledge.lookup(option.name)
        if entry is None or entry.where != "option":
            self.job.issue("option", f"line {option.line}: option {_describe(option)}: not in the plugin knowledge base",
                           "decide what it did and add the equivalent to the spec")
        elif entry.cls == "no-op":
            self.job.noop(f"option {option.name}", entry.mapping, entry.source)
        else:
            self.job.issue("option", f"line {option.line}: option {_describe(option)} ({entry.plugin}): {entry.does}",
                           entry.question or entry.mapping, entry.source)

    def _timeout(self, node: Node) -> None:
        time = node.kwargs.get("time", node.args[0] if node.args else None)
        unit = _literal(node.kwargs.get("unit", "MINUTES"))
        if not isinstance(time, int | float) or unit not in TIME_UNITS_IN_MINUTES:
            self.job.issue("option", f"line {node.line}: timeout {_describe(node)} with a non-literal value")
            return
        minutes = max(1, math.ceil(time * TIME_UNITS_IN_MINUTES[unit]))
        self.job.timeout_minutes = minutes
        self.job.mapped.append(f"timeout({time} {unit}) -> execution_timeout / activeDeadlineSeconds of {minutes} min")

    # triggers ----------------------------------------------------------------------------------
    def directive_triggers(self, node: Node) -> None:
        for trigger in node.body or []:
            spec = _literal(trigger.kwargs.get("spec", trigger.args[0] if trigger.args else None))
            if trigger.name == "cron" and spec is not None:
                self.job.timer_spec = spec
            elif trigger.name == "pollSCM":
                self.job.issue("scm-polling", f"pollSCM({spec!r})", "trigger the DAG from CI on push (Airflow REST API) instead of polling")
            elif trigger.name == "upstream":
                self._upstream(trigger)
            else:
                self.job.issue("trigger", f"line {trigger.line}: trigger {_describe(trigger)}")

    def _upstream(self, trigger: Node) -> None:
        projects = _literal(trigger.kwargs.get("upstreamProjects", trigger.args[0] if trigger.args else None))
        threshold = trigger.kwargs.get("threshold")
        threshold_name = threshold.text.rsplit(".", 1)[-1] if isinstance(threshold, Expr) else "SUCCESS"
        if projects is None:
            self.job.issue("trigger", f"line {trigger.line}: upstream trigger with computed projects {_describe(trigger)}")
            return
        names = [p.strip().strip("/") for p in projects.split(",") if p.strip()]
        if threshold_name == "FAILURE":
            self.job.issue("trigger", f"started after {', '.join(names)} even when they fail",
                           "the DAG runs after each upstream success (its Asset); add a trigger with when: always to "
                           "the upstream spec if it must also run after a failure")
        for name in names:
            if name not in self.job.upstream:
                self.job.upstream.append(name)
        self.job.mapped.append(f"upstream({projects!r}, {threshold_name}) -> scheduled on the upstream jobs' Assets")

    # parameters --------------------------------------------------------------------------------
    def directive_parameters(self, node: Node) -> None:
        kinds = {"string": "string", "text": "text", "booleanParam": "boolean", "choice": "choice", "password": "password"}
        for p in node.body or []:
            kind = kinds.get(p.name)
            name = _literal(p.kwargs.get("name"))
            if kind is None or name is None:
                self.job.issue("parameter", f"line {p.line}: parameter {_describe(p)}", "add it to the spec's params by hand")
                continue
            description = _literal(p.kwargs.get("description")) or ""
            if kind == "choice":
                choices = p.kwargs.get("choices")
                if isinstance(choices, str):
                    choices = choices.split("\n")
                if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
                    self.job.issue("parameter", f"choice parameter {name} with non-literal choices")
                    continue
                self.job.params.append(Param(name, "choice", choices[0] if choices else None, choices, description))
            elif kind == "boolean":
                default = p.kwargs.get("defaultValue", False)
                self.job.params.append(Param(name, "boolean", bool(default) if isinstance(default, bool) else False, None, description))
            elif kind == "password":
                # The default of a password parameter is a secret: never read it.
                self.job.params.append(Param(name, "password", None, None, description))
            else:
                default = p.kwargs.get("defaultValue", "")
                if not isinstance(default, str):
                    self.job.issue("groovy", f"parameter {name} default is a Groovy expression: {_show(default)}")
                    default = ""
                self.job.params.append(Param(name, kind, default, None, description))

    # environment -------------------------------------------------------------------------------
    def directive_environment(self, node: Node) -> None:
        for item in node.body or []:
            value = item.assigned
            if isinstance(value, str):
                self.job.env[item.name] = self.job.scrub(value)
            elif isinstance(value, Node) and value.name == "credentials":
                self.job.issue("credentials", f"{item.name} = credentials({_show(value.args[0]) if value.args else ''})",
                               "put the credential in a Kubernetes Secret and list it under secret_env")
            else:
                self.job.issue("groovy", f"line {item.line}: environment {item.name} = {_show(value)}",
                               "set a literal value in the spec's env")

    # stages and steps --------------------------------------------------------------------------
    def directive_stages(self, node: Node) -> None:
        for stage in node.body or []:
            if stage.name != "stage" or stage.body is None:
                self.job.issue("directive", f"line {stage.line}: {_describe(stage)} inside stages")
                continue
            stage_name = _literal(stage.args[0]) if stage.args else "?"
            for part in stage.body:
                if part.name == "steps":
                    self.steps(part.body or [], stage_name)
                elif part.name == "stages":
                    self.directive_stages(part)
                elif part.name == "when":
                    self.job.issue("groovy", f"stage {stage_name}: when {{ ... }} condition",
                                   "the stage now always runs; add the condition to the command")
                elif part.name == "parallel":
                    self.job.issue("step", f"stage {stage_name}: parallel stages",
                                   "their steps run one after the other; split into separate jobs if needed")
                    for inner in part.body or []:
                        self.directive_stages(Node("stages", inner.line, body=[inner]))
                elif part.name == "agent":
                    self.directive_agent(part)
                elif part.name == "environment":
                    self.directive_environment(part)
                elif part.name == "options":
                    self.directive_options(part)
                elif part.name == "post":
                    self.directive_post(part)
                else:
                    self.job.issue("directive", f"stage {stage_name}: {_describe(part)}")

    def steps(self, steps: list[Node], stage: str) -> None:
        for step in steps:
            if step.name == "sh":
                script = step.kwargs.get("script", step.args[0] if step.args else None)
                if isinstance(script, GString):
                    script = self._gstring_to_shell(script.text, stage)
                if not isinstance(script, str):
                    self.job.issue("groovy", f"stage {stage}: sh with a Groovy expression {_show(script)}")
                    continue
                for flag in ("returnStdout", "returnStatus"):
                    if step.kwargs.get(flag) is True:
                        self.job.issue("groovy", f"stage {stage}: sh with {flag}: its result fed Groovy code (line {step.line})",
                                       "the command runs, but nothing uses its output or status any more")
                self.job.shell_steps.append(self.job.scrub(script))
            elif step.name == "echo":
                message = step.args[0] if step.args else ""
                if isinstance(message, GString):
                    message = self._gstring_to_shell(message.text, stage)
                if isinstance(message, str):
                    self.job.shell_steps.append("echo " + _shell_quote(message, allow_expansion=True))
            elif step.name == "build":
                self._build_step(step, stage)
            elif step.name == "retry" and step.body is not None and step.args and isinstance(step.args[0], int):
                self.job.retries = max(self.job.retries or 0, step.args[0] - 1)
                self.job.mapped.append(f"retry({step.args[0]}) step -> retries={step.args[0] - 1} (for the whole job)")
                self.steps(step.body, stage)
            elif step.name == "timeout" and step.body is not None:
                self._timeout(step)
                self.steps(step.body, stage)
            elif step.name == "script":
                self.job.issue("groovy", f"stage {stage}: script {{ ... }} block (line {step.line})",
                               "Groovy code: rewrite it as part of the command")
            else:
                self.job.issue("step", f"stage {stage}: step {_describe(step)} (line {step.line})",
                               _STEP_HINTS.get(step.name, "no automatic equivalent"))
                if step.body is not None:
                    # A wrapper step (withCredentials, dir, withEnv, lock...): its inner steps still run.
                    self.steps(step.body, stage)

    def _gstring_to_shell(self, text: str, stage: str) -> str:
        """Groovy interpolation -> shell expansion, for the parts that have one."""

        def replace(match: re.Match) -> str:
            expr = match.group(1).strip("{}").strip()
            for prefix in ("params.", "env."):
                if expr.startswith(prefix) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expr[len(prefix):]):
                    return "${" + expr[len(prefix):] + "}"
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expr):
                return "${" + expr + "}"
            self.job.issue("groovy", f"stage {stage}: Groovy expression ${{{expr}}} in a string",
                           "replace it with a shell expression or a parameter")
            return match.group(0)

        return _GSTRING_EXPR_RE.sub(replace, text)

    def _build_step(self, step: Node, stage: str, when: str = "success") -> None:
        target = _literal(step.kwargs.get("job", step.args[0] if step.args else None))
        if target is None:
            self.job.issue("groovy", f"stage {stage}: build step with a computed job name")
            return
        conf: dict[str, str] = {}
        for p in step.kwargs.get("parameters", []) or []:
            name = _literal(p.kwargs.get("name")) if isinstance(p, Node) else None
            value = p.kwargs.get("value") if isinstance(p, Node) else None
            if name and isinstance(value, str | bool):
                conf[name] = str(value).lower() if isinstance(value, bool) else value
            elif name and isinstance(value, GString):
                conf[name] = _gstring_to_jinja(value.text)
            else:
                self.job.issue("groovy", f"build job {target}: parameter {_show(p)}")
        wait = step.kwargs.get("wait", True)
        propagate = step.kwargs.get("propagate", True)
        if not isinstance(wait, bool) or not isinstance(propagate, bool):
            self.job.issue("groovy", f"build job {target}: computed wait/propagate", "set wait/propagate in the spec")
            wait, propagate = bool(wait is not False), bool(propagate is not False)
        self.job.triggers.append(Trigger(target, when, conf, wait, propagate, f"build job ({stage})"))
        self.job.mapped.append(
            f"build job: {target} ({stage}) -> TriggerDagRunOperator ({when}"
            + (", wait_for_completion" + (", fails when it fails" if propagate else "") if wait else "") + ")"
        )

    # post --------------------------------------------------------------------------------------
    def directive_post(self, node: Node) -> None:
        for condition in node.body or []:
            when = {"failure": "failure", "unsuccessful": "failure", "always": "always", "success": "success",
                    "cleanup": "always"}.get(condition.name)
            for step in condition.body or []:
                if step.name in ("mail", "emailext") and when in ("failure", "always"):
                    to = _literal(step.kwargs.get("to"))
                    if to:
                        self._emails(to)
                    else:
                        self.job.issue("notification", f"post {condition.name}: {step.name} without a literal 'to'",
                                       "set notifications.email.to in the spec")
                elif step.name == "slackSend" and when in ("failure", "always"):
                    channel = _literal(step.kwargs.get("channel"))
                    if channel:
                        self.job.slack_channel = channel
                        self.job.mapped.append(f"post {condition.name}: slackSend -> Slack notification to {channel}")
                    else:
                        self.job.issue("notification", "slackSend without a literal channel", "set notifications.slack.channel")
                elif step.name == "build" and when is not None:
                    self._build_step(step, f"post {condition.name}", when)
                else:
                    self.job.issue("post", f"post {condition.name}: {_describe(step)}",
                                   "notifications are sent on failure only" if step.name in ("mail", "emailext", "slackSend") else "")

    def _emails(self, to: str) -> None:
        addresses = [a.strip() for a in re.split(r"[,\s]+", to) if a.strip()]
        for address in addresses:
            if address not in self.job.emails:
                self.job.emails.append(address)
        self.job.mapped.append(f"mail to {', '.join(addresses)} -> e-mail notification on failure")


def _gstring_to_jinja(text: str) -> str:
    def replace(match: re.Match) -> str:
        expr = match.group(1).strip("{}").strip()
        if expr.startswith("params."):
            return "{{ params." + expr[len("params."):] + " }}"
        return match.group(0)

    return _GSTRING_EXPR_RE.sub(replace, text)


def _shell_quote(text: str, allow_expansion: bool) -> str:
    if allow_expansion:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`") + '"'
    return "'" + text.replace("'", "'\"'\"'") + "'"


_STEP_HINTS = {
    "checkout": "the image should contain the code; build and push it in CI",
    "git": "the image should contain the code; build and push it in CI",
    "junit": "test reports have no Airflow equivalent",
    "archiveArtifacts": "write artifacts to object storage from the command",
    "withCredentials": "put the credential in a Kubernetes Secret and list it under secret_env",
    "input": "manual approval has no batch equivalent",
    "stash": "stages share one container now; no stash needed",
    "unstash": "stages share one container now; no stash needed",
    "dir": "add 'cd DIR' to the command",
    "bat": "Windows batch steps cannot run in the Linux batch container",
}
