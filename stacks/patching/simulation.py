"""The patch-lag simulation: the daily schedule, the soak and the proof rules played over a release history.

Each simulated day the scheduled workflow runs ``patch-nodes dev`` then ``patch-nodes prod`` at
``run_hour`` (UTC). The decisions are the product's own (``releases.decide``) over records kept like
the real ones: dev rolls to the newest release AWS publishes and records it proven when the roll and
the proof are done (``roll_hours`` later); prod takes the newest release dev proved ``soak_days``
before. A release's lag, per stack, is the time from its publication until the stack runs it or a
newer one; releases no stack has reached before the history ends are left out of the figures.

No step waits for a person: ``human_actions`` counts the runs whose decision needs one (an alert:
holding on a failed or withdrawn release with nothing to move to), which stays 0 unless proofs fail.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterable

from stacks.patching.releases import FAILED, PROVEN, Entry, GroupFacts, Published, Record, decide, release_key

HISTORY = Path(__file__).with_name("eks_ami_releases.csv")
FAMILY, KUBERNETES = "AL2023", "1.35"


@dataclass(frozen=True)
class Release:
    name: str
    published: datetime


def load_history(path: Path = HISTORY, publish_hour: int = 12) -> list[Release]:
    """The releases of the data file, as AL2023 release names of one Kubernetes version, published at
    ``publish_hour`` UTC of their release date (the hour is not in the tags)."""
    rows = csv.DictReader(line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    releases = []
    for row in rows:
        day = date.fromisoformat(row["release_date"])
        moment = datetime.combine(day, time(publish_hour), tzinfo=timezone.utc)
        releases.append(Release(f"{KUBERNETES}.0-{day:%Y%m%d}", moment))
    releases.sort(key=lambda r: r.published)
    return releases


@dataclass
class StackRun:
    running: str
    record: Record = field(default_factory=lambda: Record(FAMILY))
    adopted: list[tuple[datetime, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    releases: int
    dev_lags: tuple[float, ...]
    prod_lags: tuple[float, ...]
    human_actions: int
    prod_skipped: int
    """Releases prod never ran because a newer one reached it first."""

    def line(self) -> str:
        return (
            f"patch lag (days) over {self.releases} AMI releases: "
            f"dev median {statistics.median(self.dev_lags):.1f} max {max(self.dev_lags):.1f}; "
            f"prod median {statistics.median(self.prod_lags):.1f} max {max(self.prod_lags):.1f}; "
            f"human actions {self.human_actions}"
        )


def simulate(
    releases: list[Release],
    *,
    soak_days: float,
    run_hour: float = 5.4,
    roll_hours: float = 1.0,
    prod_after_hours: float = 1.5,
    failed: Iterable[str] = (),
) -> Result:
    """Play the schedule over ``releases`` (sorted by publication); ``failed``: releases whose proof fails in dev."""
    failing = set(failed)
    key = lambda name: release_key(FAMILY, name)  # noqa: E731
    first = releases[0]
    dev, prod = StackRun(first.name), StackRun(first.name)
    dev.record = dev.record.with_entry(Entry(first.name, PROVEN, first.published, first.published))
    prod.record = prod.record.with_entry(Entry(first.name, PROVEN, first.published, first.published))
    dev.adopted.append((first.published, first.name))
    prod.adopted.append((first.published, first.name))
    end = releases[-1].published + timedelta(days=60)
    day = datetime.combine(first.published.date() + timedelta(days=1), time(), tzinfo=timezone.utc)
    humans = 0
    while day < end:
        at = day + timedelta(hours=run_hour)
        published = [r for r in releases if r.published <= at]
        recommended = Published(published[-1].name, published[-1].published)
        for run, promote, now in ((dev, False, at), (prod, True, at + timedelta(hours=prod_after_hours))):
            facts = GroupFacts(
                role="batch",
                family=FAMILY,
                kubernetes_version=KUBERNETES,
                running=run.running,
                recommended=recommended,
                own=run.record,
                source=dev.record if promote else None,
            )
            decision = decide(facts, promote=promote, soak_days=soak_days, now=now)
            humans += decision.alert
            if decision.action == "roll":
                done = now + timedelta(hours=roll_hours)
                outcome = FAILED if (not promote and decision.target in failing) else PROVEN
                run.record = run.record.with_entry(Entry(decision.target, outcome, done))
                run.running = decision.target
                run.adopted.append((done, decision.target))
        day += timedelta(days=1)

    def lags(run: StackRun) -> tuple[list[float], int]:
        found, skipped = [], 0
        ran = {name for _, name in run.adopted}
        for release in releases[1:]:
            reached = [t for t, name in run.adopted if key(name) >= key(release.name) and name not in failing]
            if reached:
                found.append((min(reached) - release.published).total_seconds() / 86400)
                skipped += release.name not in ran
        return found, skipped

    dev_lags, _ = lags(dev)
    prod_lags, skipped = lags(prod)
    return Result(len(releases) - 1, tuple(dev_lags), tuple(prod_lags), humans, skipped)
