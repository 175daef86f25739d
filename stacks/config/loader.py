"""Load and validate a stack's configuration, from its file (offline tools) or from Pulumi (``pulumi up``).

Both paths end in ``validate``: the same model, the same rules, the same messages. Nothing is
registered before validation passed.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from infra.aws_catalog import region_problem
from stacks.config import yaml_source
from stacks.config.base import Section
from stacks.config.model import NAMESPACE, TIERS, StackConfig
from stacks.config.problems import MISSING, Problem, StackConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Keys of other namespaces that Pulumi itself understands and that do not configure this program.
_FOREIGN_NAMESPACES_ALLOWED = ("pulumi:",)


def stack_file(stack: str, root: Path = PROJECT_ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def available_stacks(root: Path = PROJECT_ROOT) -> list[str]:
    """Stacks that have a ``Pulumi.<stack>.yaml`` next to ``Pulumi.yaml``."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def load_stack_file(path: Path) -> StackConfig:
    """Read and validate a ``Pulumi.<stack>.yaml`` file. Raises StackConfigError naming every problem."""
    source = path.name
    try:
        document, duplicates = yaml_source.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StackConfigError(source, [Problem("(file)", str(path), f"cannot read the stack file: {exc}")]) from None
    except UnicodeDecodeError as exc:
        raise StackConfigError(source, [Problem("(file)", str(path), f"not UTF-8 text: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise StackConfigError(source, [Problem("(file)", str(path), f"not valid YAML: {exc}")]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StackConfigError(source, [Problem("(file)", type(document).__name__, "expected a mapping with a config: key")])
    problems = [_duplicate_problem(d) for d in duplicates]
    unknown_top = sorted(set(document) - {"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"})
    problems += [Problem(key, document[key], "unknown top-level key of a Pulumi stack file") for key in unknown_top]
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackConfigError(source, [*problems, Problem("config", config, "expected a mapping of namespaced keys")])
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    return validate(config, source, problems, stack=stack)


def _duplicate_problem(duplicate: yaml_source.DuplicateKey) -> Problem:
    parts = list(duplicate.path)
    if len(parts) >= 2 and parts[0] == "config":
        parts = [parts[1].removeprefix(f"{NAMESPACE}:"), *parts[2:]]
    return Problem(
        ".".join(parts),
        duplicate.value,
        f"given twice (line {duplicate.first_line} and line {duplicate.line}): YAML would silently keep only "
        "the last one; keep one of them",
    )


def load_from_pulumi() -> StackConfig:
    """Validate the configuration the Pulumi engine handed to this program (``pulumi up``/``preview``)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    flat: dict[str, Any] = {}
    for key, value in merged.items():
        # The engine hands secrets over decrypted: mark them so they are refused like a secure: value.
        flat[key] = {SECURE_KEY: "[secret]"} if runtime_config.is_config_secret(key) else _decode(value)
    return validate(flat, f"Pulumi.{pulumi.get_stack()}.yaml", stack=pulumi.get_stack())


def _decode(value: Any) -> Any:
    """The engine passes structured values as JSON text and plain values as text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def validate(
    config: Mapping[str, Any], source: str, problems: list[Problem] | None = None, *, stack: str | None = None
) -> StackConfig:
    """Validate namespaced config (``{"batch-platform:network": {...}, ...}``) into a StackConfig.

    Collects every problem (types, unknown keys, cross-field and per-tier rules, and with ``stack``
    the names AWS resources get from the stack's name) and raises one StackConfigError listing them all.
    """
    problems = list(problems or [])
    raw: dict[str, Any] = {}
    prefix = f"{NAMESPACE}:"
    for key, value in config.items():
        if key.startswith(prefix):
            raw[key[len(prefix) :]] = value
        elif key.startswith(_FOREIGN_NAMESPACES_ALLOWED):
            continue
        else:
            problems.append(
                Problem(
                    key,
                    value,
                    f"not read by this program: every setting lives under {prefix} "
                    f"(the region is {prefix}region; the program builds its own AWS provider from it)",
                )
            )

    region = raw.get("region")
    if stack is not None and isinstance(region, str) and region_problem(region) is None:
        # The AWS names derived from the stack's name, reported with the file's other problems.
        from stacks.names import stack_name_problems

        problems += stack_name_problems(NAMESPACE, stack, region)
    secrets = _secure_values(raw, ())
    problems += [Problem(".".join(path), "[secret]", SECRET_EXPECTED) for path in secrets]
    try:
        parsed = StackConfig.model_validate(raw)
    except ValidationError as exc:
        errors = [err for err in exc.errors(include_url=False) if not _under_any(err["loc"], secrets)]
        field_problems = [_to_problem(err) for err in errors]
        problems += field_problems
        problems += _rules_of_valid_sections(raw, [tuple(str(p) for p in err["loc"]) for err in exc.errors()])
        raise StackConfigError(source, problems) from None

    problems += parsed.problems(parsed.tier)
    if problems:
        raise StackConfigError(source, problems)
    return parsed


SECURE_KEY = "secure"
SECRET_EXPECTED = (
    "a Pulumi secret: this program reads no secret from its configuration. The passwords and keys it "
    "needs are generated by the stack and kept in AWS Secrets Manager (docs/data-and-dr.md); Slack and "
    "SMTP connections are Secrets Manager secrets under airflow.connections_prefix (docs/airflow.md); the "
    "git-sync deploy key is the Secrets Manager secret batch-platform/<stack>/airflow/git-ssh-key. Put a "
    "plain value here, or remove the key"
)


def _secure_values(node: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Paths of ``secure:`` values (what ``pulumi config set --secret`` writes into a stack file)."""
    if isinstance(node, dict):
        if set(node) == {SECURE_KEY} and isinstance(node[SECURE_KEY], str):
            return [path]
        return [found for key, value in node.items() for found in _secure_values(value, (*path, str(key)))]
    if isinstance(node, list):
        return [found for i, value in enumerate(node) for found in _secure_values(value, (*path, str(i)))]
    return []


def _under_any(loc: tuple[Any, ...], paths: list[tuple[str, ...]]) -> bool:
    parts = tuple(str(p) for p in loc)
    return any(parts[: len(p)] == p for p in paths)


def _rules_of_valid_sections(raw: dict[str, Any], broken: list[tuple[str, ...]]) -> list[Problem]:
    """Run the cross-field and per-tier rules despite broken keys, so one run reports everything it can.

    A section with broken keys runs its rules with those keys at their defaults, and keeps only the
    problems that cannot be about them: not at a broken key, and not naming one (rules name the keys
    they compare, e.g. "must be >= min_size"). A broken sub-section runs its own rules the same way,
    to any depth, and a section whose broken key has no default runs only its sub-sections' rules.
    """
    tier = raw.get("tier")
    if tier not in TIERS:
        return []
    return _rules_of(StackConfig, raw, (), broken, tier)


def _rules_of(model: type[BaseModel], raw: Any, path: tuple[str, ...], broken: list[tuple[str, ...]], tier: str) -> list[Problem]:
    values = raw if isinstance(raw, dict) else {}
    depth = len(path)
    broken_keys = {loc[depth] for loc in broken if len(loc) > depth and loc[:depth] == path}
    if not path:
        broken_keys.discard("tier")  # validate() only gets here with a valid tier
    try:
        section = model.model_validate({k: v for k, v in values.items() if k not in broken_keys})
    except ValidationError:
        section = None  # a broken key without a default: only the sub-sections can be checked
    found: list[Problem] = []
    if isinstance(section, Section):
        rules = section.problems(tier, ".".join(path)) if path else section.problems(tier)
        found += [p for p in rules if not _about_any(p, path, broken_keys)]
    for name, field in model.model_fields.items():
        cls = field.annotation
        if name in broken_keys and isinstance(cls, type) and issubclass(cls, Section):
            found += _rules_of(cls, values.get(name), (*path, name), broken, tier)
        elif section is None and isinstance(cls, type) and issubclass(cls, Section):
            found += _rules_of(cls, values.get(name), (*path, name), broken, tier)
    return found


def _about_any(problem: Problem, path: tuple[str, ...], keys: set[str]) -> bool:
    for key in keys:
        dotted = ".".join((*path, key))
        if problem.path == dotted or problem.path.startswith(dotted + "."):
            return True
        if re.search(rf"(?<![\w.]){re.escape(key)}(?!\w)", problem.expected):
            return True
    return False


def _to_problem(err: dict[str, Any]) -> Problem:
    loc = [str(part) for part in err["loc"]]
    if loc and loc[-1] == "[key]":  # a dict key failed its own validation: name the key itself
        loc = loc[:-1]
    path = ".".join(loc) or "(root)"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(err["loc"][:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return Problem(path, err["input"], f"unknown key; {hint}expected one of: {', '.join(allowed)}")
    description = _description(err["loc"])
    if kind == "missing":
        return Problem(path, MISSING, f"required{': ' + description if description else ''}")
    message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "string_type" and isinstance(err.get("input"), (int, float)) and not isinstance(err.get("input"), bool):
        # Strict: YAML read an unquoted 8 or 1.30 as a number, and a number is not silently made text.
        message = f'expected a string (quote it: "{err["input"]}")'

    for wordy, short in (
        ("Input should be", "expected"),
        ("String should", "expected a string to"),
        ("greater than or equal to", ">="),
        ("less than or equal to", "<="),
        ("greater than", ">"),
        ("less than", "<"),
    ):
        message = message.replace(wordy, short)
    if description:
        message = f"{message} ({description})"
    return Problem(path, err.get("input"), message)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at ``loc`` (walking nested models and dict values)."""
    model: Any = StackConfig
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = _unwrap_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap_model(annotation: Any) -> Any:
    """Find the model inside Optional[...] / dict[str, Model] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(parent_loc: tuple[Any, ...]) -> list[str]:
    model = _model_at(parent_loc) if parent_loc else StackConfig
    if model is None and parent_loc:
        # dict[str, Model]: the key in between is a user-chosen name (e.g. a node group name).
        model = _model_at(parent_loc[:-1])
    return sorted(model.model_fields) if model is not None else []


def _description(loc: tuple[Any, ...]) -> str:
    model = _model_at(loc[:-1]) if len(loc) > 1 else StackConfig
    if model is None:
        return ""
    field = model.model_fields.get(str(loc[-1]))
    return (field.description or "") if field is not None else ""
