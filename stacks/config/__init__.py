"""Typed stack configuration: one model per stack file, validated before any resource is registered."""

from stacks.config.loader import available_stacks, load_from_pulumi, load_stack_file, stack_file, validate
from stacks.config.model import NAMESPACE, StackConfig
from stacks.config.problems import Problem, StackConfigError

__all__ = [
    "NAMESPACE",
    "Problem",
    "StackConfig",
    "StackConfigError",
    "available_stacks",
    "load_from_pulumi",
    "load_stack_file",
    "stack_file",
    "validate",
]
