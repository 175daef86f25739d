"""Shared building blocks of the config model: the strict base class and common value types."""

from __future__ import annotations

import typing
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from stacks.config.problems import Problem

# CloudWatch Logs accepts only these retention periods (days); anything else fails at deploy time.
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)


def _cloudwatch_retention(days: int) -> int:
    if days not in CLOUDWATCH_RETENTION_DAYS:
        raise ValueError(
            f"expected a CloudWatch Logs retention period in days, one of {list(CLOUDWATCH_RETENTION_DAYS)}"
        )
    return days


RetentionDays = Annotated[int, AfterValidator(_cloudwatch_retention)]


def _accepts_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    return any(_accepts_bool(arg) for arg in typing.get_args(annotation))


class Section(BaseModel):
    """Base of every config section: immutable, unknown keys are errors (typos must not pass), and
    types are strict: YAML's ``yes`` is not a count, ``30`` is not a name (no coercion at all)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _partial_sections_keep_their_defaults(cls, data: Any) -> Any:
        """A sub-section given in part takes the rest from its documented default, not from nothing.

        ``node_groups: {system: {disk_size_gib: 30}}`` keeps the system group's default sizes and
        instance types (those the reference shows), instead of making them required.
        """
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, field in cls.model_fields.items():
            given = data.get(name)
            annotation = field.annotation
            if (
                isinstance(given, dict)
                and field.default_factory is not None
                and isinstance(annotation, type)
                and issubclass(annotation, Section)
            ):
                default = field.get_default(call_default_factory=True)
                merged[name] = {**default.model_dump(exclude_unset=True), **given}
        return merged

    @field_validator("*", mode="before")
    @classmethod
    def _no_yaml_booleans(cls, value: Any, info: ValidationInfo) -> Any:
        # Strict mode refuses a bool for an int, but a Literal[1, 5] still takes True as 1.
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and not _accepts_bool(field.annotation):
            raise ValueError(
                f"expected {_expected(field.annotation)}, got the boolean {str(value).lower()} "
                "(YAML reads yes/no/on/off/true/false unquoted as booleans)"
            )
        return value

    def problems(self, tier: str, path: str) -> list[Problem]:
        """Cross-field and per-tier rules that a field type alone cannot express.

        ``tier`` is ``dev`` or ``prod``; ``path`` is this section's dotted key path. Sections
        override this; each returned Problem names the offending key under ``path``. The default
        runs the rules of the sub-sections.
        """
        found: list[Problem] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Section):
                found += value.problems(tier, f"{path}.{name}" if path else name)
        return found


def _expected(annotation: Any) -> str:
    if annotation is int:
        return "an integer"
    if annotation is str:
        return "a string"
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is Annotated:
        return _expected(typing.get_args(annotation)[0])
    return "a value of another type"
