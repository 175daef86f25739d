"""The program `pulumi up` runs: load the typed stack config, build the environment, export its outputs."""

import pulumi

from stacks.config import load_from_pulumi
from stacks.environment import build_environment

config = load_from_pulumi()
for name, value in build_environment(config, pulumi.get_stack()).items():
    pulumi.export(name, value)
