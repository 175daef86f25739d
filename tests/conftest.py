"""Shared fixtures: the offline plans of the real stack files, built once per test session.

Building a plan runs the whole program under Pulumi mocks; the plans are read-only for tests.
"""

from __future__ import annotations

import pytest

from stacks.offline import Plan, run_plan


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return run_plan("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return run_plan("prod")
