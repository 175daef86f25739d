"""Patch lag, measured: the daily patch-nodes schedule played over the real EKS AMI release history.

Usage (from the repository root):  python scripts/patch_lag.py [--soak-days N] [--publish-hour H]

Reads stacks/patching/eks_ami_releases.csv (the release tags of awslabs/amazon-eks-ami, with their
source and the date they were taken), plays dev and prod forward with the product's own decision
rules (stacks/patching/simulation.py) and prints: the gaps between releases, prod's lag for a range of
soak periods, the same with one dev proof in ten failing, and, as its last line, the figures for the
configured defaults (cluster.patching.soak_days):

    patch lag (days) over N AMI releases: dev median X max Y; prod median X max Y; human actions 0
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks.config.patching import PatchingConfig  # noqa: E402
from stacks.patching.simulation import HISTORY, load_history, simulate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    defaults = PatchingConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--soak-days", type=float, default=defaults.soak_days, help="default: cluster.patching.soak_days")
    parser.add_argument("--publish-hour", type=int, default=12, help="UTC hour a release is taken to appear (default 12)")
    args = parser.parse_args(argv)
    if not 0 <= args.publish_hour <= 23:
        parser.error(f"--publish-hour must be 0-23, got {args.publish_hour}")

    releases = load_history(HISTORY, args.publish_hour)
    gaps = [(b.published - a.published).total_seconds() / 86400 for a, b in zip(releases, releases[1:])]
    print(f"history: {len(releases)} releases {releases[0].published:%Y-%m-%d} .. {releases[-1].published:%Y-%m-%d} ({HISTORY.name})")
    print(f"gaps between releases (days): median {statistics.median(gaps):.1f}, max {max(gaps):.1f}, "
          f"{sum(g <= 3 for g in gaps)} of {len(gaps)} within 3 days")
    print("soak  prod median  prod max   (all proofs pass | 1 dev proof in 10 fails)  releases prod skips")
    failing = [r.name for r in releases[1::10]]
    for soak in (0, 1, 2, 3, 5, 7, 10, 14):
        clean = simulate(releases, soak_days=soak)
        bad = simulate(releases, soak_days=soak, failed=failing)
        print(
            f"{soak:>4}  {statistics.median(clean.prod_lags):>11.1f}  {max(clean.prod_lags):>8.1f}   "
            f"{statistics.median(bad.prod_lags):>17.1f} {max(bad.prod_lags):>6.1f}  {bad.prod_skipped:>30}"
        )
    result = simulate(releases, soak_days=args.soak_days)
    print(f"soak_days {args.soak_days:g}, max_lag_days {defaults.max_lag_days:g}: "
          f"{sum(lag > defaults.max_lag_days for lag in result.prod_lags)} prod lags over the alarm threshold")
    print(result.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
