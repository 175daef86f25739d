"""Reusable Pulumi components. They know nothing about environments: stacks/ configures and wires them."""
