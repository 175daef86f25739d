"""The decision rules of node patching: which release dev and prod take, and the patch lag."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from stacks.patching.releases import (
    FAILED,
    PROVEN,
    RECORD_LIMIT,
    ROLLING,
    Entry,
    GroupFacts,
    Published,
    Record,
    RecordError,
    decide,
    lag_days,
    release_key,
)

NOW = datetime(2026, 8, 20, 6, 0, tzinfo=timezone.utc)
R1, R2, R3, R4 = "1.35.3-20260801", "1.35.3-20260808", "1.35.4-20260812", "1.35.4-20260818"


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def record(*entries: tuple[str, str, float]) -> Record:
    result = Record("AL2023")
    for release, outcome, age in entries:
        result = result.with_entry(Entry(release, outcome, days_ago(age), days_ago(age + 1)))
    return result


def facts(running, recommended, own=None, source=None, pin=None, published=None) -> GroupFacts:
    return GroupFacts(
        role="batch",
        family="AL2023",
        kubernetes_version="1.35",
        running=running,
        recommended=Published(recommended, published),
        own=own or Record("AL2023"),
        pin=pin,
        source=source,
    )


def dev(f: GroupFacts):
    return decide(f, promote=False, soak_days=3, now=NOW)


def prod(f: GroupFacts):
    return decide(f, promote=True, soak_days=3, now=NOW)


def test_release_order_is_by_build_date_then_kubelet():
    assert release_key("AL2023", R2) < release_key("AL2023", R3)
    assert release_key("AL2023", "1.35.9-20260801") < release_key("AL2023", "1.35.3-20260802")
    assert release_key("BOTTLEROCKET", "1.45.0") < release_key("BOTTLEROCKET", "1.45.1-5cd5ff76")
    with pytest.raises(ValueError, match="not a AL2023"):
        release_key("AL2023", "1.45.0")


def test_dev_takes_the_newest_release():
    decision = dev(facts(R1, R3))
    assert (decision.action, decision.target) == ("roll", R3)
    assert "the release AWS recommends" in decision.reason


def test_dev_with_the_newest_running_and_proven_has_nothing_to_do():
    decision = dev(facts(R3, R3, own=record((R3, PROVEN, 1))))
    assert (decision.action, decision.target, decision.alert) == ("none", R3, False)
    assert "nothing to do" in decision.reason


def test_a_rolled_release_without_a_recorded_proof_is_proved_on_the_next_run():
    for own in (Record("AL2023"), record((R3, ROLLING, 0.1))):
        decision = dev(facts(R3, R3, own=own))
        assert (decision.action, decision.target) == ("prove", R3)


def test_dev_never_takes_a_release_whose_proof_failed_and_stays():
    decision = dev(facts(R2, R3, own=record((R2, PROVEN, 5), (R3, FAILED, 1))))
    assert (decision.action, decision.target) == ("none", R2)


def test_dev_leaves_a_failed_release_for_the_newest_acceptable_one():
    decision = dev(facts(R3, R3, own=record((R2, PROVEN, 5), (R3, FAILED, 1))))
    assert (decision.action, decision.target) == ("roll", R2)
    assert f"{R3} failed its proof: moving to {R2}" in decision.reason
    holding = dev(facts(R3, R3, own=record((R3, FAILED, 1))))
    assert (holding.action, holding.target, holding.alert) == ("none", R3, True)


def test_prod_takes_the_newest_release_proven_for_the_soak_and_skips_the_ones_between():
    source = record((R2, PROVEN, 10), (R3, PROVEN, 4), (R4, PROVEN, 1))
    decision = prod(facts(R1, R4, source=source))
    assert (decision.action, decision.target) == ("roll", R3)
    assert "at least 3 days ago" in decision.reason


def test_prod_waits_while_the_newest_proof_soaks():
    source = record((R3, PROVEN, 4), (R4, PROVEN, 1))
    decision = prod(facts(R3, R4, source=source, own=record((R3, PROVEN, 3))))
    assert (decision.action, decision.target) == ("none", R3)
    assert f"{R4} is proven but still soaking" in decision.reason


def test_prod_never_takes_a_release_that_failed_in_dev():
    source = record((R2, PROVEN, 10), (R3, FAILED, 5))
    decision = prod(facts(R1, R3, source=source))
    assert (decision.action, decision.target) == ("roll", R2)


def test_prod_never_takes_a_release_that_failed_in_prod():
    source = record((R2, PROVEN, 10), (R3, PROVEN, 5))
    decision = prod(facts(R3, R3, source=source, own=record((R2, PROVEN, 8), (R3, FAILED, 1))))
    assert (decision.action, decision.target) == ("roll", R2)
    assert f"{R3} failed its proof" in decision.reason


def test_a_release_withdrawn_by_aws_is_never_taken_and_left():
    # AWS recommends R2 again: R3, proven in dev, has been withdrawn.
    source = record((R2, PROVEN, 10), (R3, PROVEN, 5))
    assert prod(facts(R1, R2, source=source)).target == R2
    decision = prod(facts(R3, R2, source=source, own=record((R3, PROVEN, 2))))
    assert (decision.action, decision.target) == ("roll", R2)
    assert "withdrawn by AWS" in decision.reason
    decision = dev(facts(R3, R2, own=record((R3, PROVEN, 5))))
    assert (decision.action, decision.target) == ("roll", R2)


def test_a_pin_set_by_hand_wins_over_every_rule():
    source = record((R3, PROVEN, 10))
    assert (prod(facts(R3, R4, source=source, pin=R1)).target, prod(facts(R3, R4, source=source, pin=R1)).action) == (R1, "roll")
    assert dev(facts(R1, R4, pin=R1, own=record((R1, PROVEN, 3)))).action == "none"
    assert "pinned by hand" in dev(facts(R1, R4, pin=R1)).reason
    # Even a failed release, when a person pins it: the pin is the emergency override.
    assert dev(facts(R1, R4, pin=R3, own=record((R3, FAILED, 1)))).target == R3


def test_prod_never_moves_back_from_an_acceptable_release():
    source = record((R2, PROVEN, 10))
    decision = prod(facts(R3, R3, source=source, own=record((R3, PROVEN, 2))))
    assert (decision.action, decision.target) == ("none", R3)


def test_disabled_patching_changes_nothing():
    decision = decide(facts(R1, R4), promote=False, soak_days=3, now=NOW, enabled=False)
    assert (decision.action, decision.target) == ("none", R1)


def test_a_release_of_another_kubernetes_version_is_left_once_one_is_proven():
    source = record((R3, PROVEN, 10))
    decision = prod(facts("1.34.5-20260801", R3, source=source))
    assert (decision.action, decision.target) == ("roll", R3)
    holding = prod(facts("1.34.5-20260801", R3, source=Record("AL2023")))
    assert (holding.action, holding.alert) == ("none", True)


def test_lag_counts_from_the_oldest_newer_release():
    source = record((R2, PROVEN, 10), (R3, PROVEN, 4))  # published 11 and 5 days ago
    assert lag_days(facts(R1, R3, source=source), NOW) == pytest.approx(11)
    assert lag_days(facts(R2, R3, source=source), NOW) == pytest.approx(5)
    assert lag_days(facts(R3, R3, source=source), NOW) == 0
    # Only the recommended release known: its LastModifiedDate.
    assert lag_days(facts(R1, R3, published=days_ago(2)), NOW) == pytest.approx(2)
    # A withdrawn release does not count.
    assert lag_days(facts(R2, R2, source=record((R3, PROVEN, 4))), NOW) == 0


def test_the_record_round_trips_and_fits_an_ssm_parameter():
    many = Record("AL2023")
    for day in range(1, 60):
        many = many.with_entry(Entry(f"1.35.3-202607{day:02d}" if day < 32 else f"1.35.3-202608{day - 31:02d}", PROVEN, NOW, NOW, "x" * 150))
    text = many.render()
    assert len(text) <= RECORD_LIMIT
    parsed = Record.parse("AL2023", text, "test")
    assert parsed.entries[-1].release == "1.35.3-20260828"  # the newest kept
    assert parsed.entries[-1] == many.entries[-1].__class__(**{**many.entries[-1].__dict__, "detail": "x" * 150})
    assert json.loads(text)["entries"][0]["outcome"] == PROVEN


def test_a_rerecorded_outcome_keeps_the_publication_time():
    start = Record("AL2023").with_entry(Entry(R3, ROLLING, days_ago(1), days_ago(2)))
    done = start.with_entry(Entry(R3, PROVEN, NOW))
    assert done.get(R3).published == days_ago(2) and done.get(R3).outcome == PROVEN and len(done.entries) == 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("not json", "JSONDecodeError"),
        ('{"entries": [{"release": "1.35.3-20260801"}]}', "KeyError"),
        ('{"entries": [{"release": "x", "outcome": "proven", "at": "2026-08-01T00:00:00Z"}]}', "not a AL2023"),
        ('{"entries": [{"release": "1.35.3-20260801", "outcome": "great", "at": "2026-08-01T00:00:00Z"}]}', "outcome 'great'"),
    ],
)
def test_a_damaged_record_is_named(text, expected):
    with pytest.raises(RecordError, match=expected) as info:
        Record.parse("AL2023", text, "SSM parameter /batch-platform/dev/node-patching/batch")
    assert "SSM parameter /batch-platform/dev/node-patching/batch does not hold" in str(info.value)
