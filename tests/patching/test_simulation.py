"""The patch-lag simulation: the data file, the rules played forward, the script's last line."""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta, timezone

import pytest

from stacks.patching.simulation import HISTORY, Release, load_history, simulate

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def history(*days: int) -> list[Release]:
    return [Release(f"1.35.0-{(T0 + timedelta(days=d)):%Y%m%d}", T0 + timedelta(days=d)) for d in days]


def test_the_data_file_names_its_source_and_date_and_holds_the_release_tags():
    text = HISTORY.read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any("awslabs/amazon-eks-ami" in line for line in header)
    assert any(re.search(r"Taken \d{4}-\d{2}-\d{2}", line) for line in header)
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert len(rows) >= 50
    for row in rows:
        assert re.fullmatch(r"v\d{8}", row["tag"]) and row["tag"][1:] == row["release_date"].replace("-", "")
    assert [r["tag"] for r in rows] == sorted(r["tag"] for r in rows)
    assert len(load_history()) == len(rows)


def test_dev_follows_within_a_day_and_prod_after_the_soak():
    result = simulate(history(0, 2, 10), soak_days=3)
    # Published at 12:00; the schedule runs at 05:24 the next day, the roll and proof take an hour.
    assert result.dev_lags == pytest.approx((0.767, 0.767), abs=0.01)
    # dev proved at day+1 06:24; prod (1.5 h after dev) takes it on the first run 3 days after that.
    assert result.prod_lags == pytest.approx((3.83, 3.83), abs=0.01)
    assert (result.releases, result.human_actions, result.prod_skipped) == (2, 0, 0)
    assert result.line() == (
        "patch lag (days) over 2 AMI releases: dev median 0.8 max 0.8; prod median 3.8 max 3.8; human actions 0"
    )


def test_a_failed_proof_is_skipped_by_prod_until_the_next_good_release():
    releases = history(0, 2, 10)
    result = simulate(releases, soak_days=3, failed=[releases[1].name])
    # dev rolled to it, the proof failed, dev went back; both stacks are patched by the next release.
    assert result.prod_lags[0] == pytest.approx(8 + 3.83, abs=0.01)
    assert result.dev_lags[0] == pytest.approx(8.767, abs=0.01)
    assert result.prod_skipped == 1 and result.human_actions == 0


def test_releases_closer_than_a_run_apart_are_skipped_not_queued():
    close = [
        Release("1.35.0-20260103", T0 + timedelta(days=2)),
        Release("1.35.0-20260104", T0 + timedelta(days=2, hours=3)),
        Release("1.35.0-20260120", T0 + timedelta(days=19)),
    ]
    result = simulate([Release("1.35.0-20260101", T0), *close], soak_days=3)
    # Both arrive before the same run: both stacks go straight to the newer; the older one's lag ends there too.
    assert result.prod_skipped == 1
    assert result.prod_lags[0] == pytest.approx(result.prod_lags[1] + 3 / 24, abs=0.01)


def test_the_script_prints_the_figures_last(capsys):
    from scripts.patch_lag import main

    assert main([]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"patch lag \(days\) over \d+ AMI releases: dev median [\d.]+ max [\d.]+; prod median [\d.]+ max [\d.]+; human actions 0",
        last,
    ), last
