"""Per-environment stacks: typed configuration, the composition of infra components, and stack tools."""
