"""The offline plan: run the real program under Pulumi mocks and record every registration.

``run_plan(stack)`` is the one harness that the ``plan`` command, the tests and the policy checks
share. Nothing here talks to AWS; every answer an invoke would get from AWS is a canned placeholder,
recorded in the plan and labelled as such.
"""

from stacks.offline.harness import Plan, RecordedInvoke, RecordedResource, record, run_plan

__all__ = ["Plan", "RecordedInvoke", "RecordedResource", "record", "run_plan"]
