"""Jenkins cron semantics: the hash, the grammar, AND of the day fields, lines, TZ and DST.

The vectors marked "upstream" come from Jenkins' own CronTabTest.java (hashedMinute, hashSkips,
repeatedHash, testTimezone, testHash1/2, testCeil*, testFloor*); the spec is exact if these agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batch_platform.jenkins_cron import CronSpecError, Hash, JavaRandom, _LineParser, parse_spec


def at(*args, tz=UTC):
    return datetime(*args, tzinfo=tz)


def ceil(spec, seed, moment, tz="UTC"):
    return parse_spec(spec, seed=seed, default_timezone=tz).next_fire_time(moment, inclusive=True)


# --- java.util.Random and the hash -----------------------------------------------------------------


def test_java_random_matches_the_jdk_sequence():
    # Values printed by `new java.util.Random(42)` on a JDK.
    r = JavaRandom(42)
    assert [r.next_int(10) for _ in range(5)] == [0, 3, 8, 4, 0]
    r = JavaRandom(0)
    assert r.next_bits(32) == -1155484576  # new Random(0).nextInt()


def test_java_random_power_of_two_bound_uses_the_high_bits():
    # For bound 2^k Java returns (bound * next(31)) >> 31, i.e. the top k bits; never the modulo.
    a, b = JavaRandom(7), JavaRandom(7)
    assert a.next_int(16) == b.next_bits(31) >> 27


def test_java_random_rejection_loop_redraws_values_from_the_incomplete_block():
    # With bound 2^30 + 1 about half of all draws fall in the incomplete last block and are redrawn.
    bound = (1 << 30) + 1
    for seed in range(20):
        expected_random = JavaRandom(seed)
        u = expected_random.next_bits(31)
        while u - (u % bound) + bound - 1 >= 1 << 31:
            u = expected_random.next_bits(31)
        assert JavaRandom(seed).next_int(bound) == u % bound


def test_next_int_rejects_a_non_positive_bound():
    with pytest.raises(ValueError):
        JavaRandom(1).next_int(0)


# --- upstream vectors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "seed", "expected"),
    [
        ("H 17 * * *", "stuff", at(2013, 3, 21, 17, 56)),
        ("H * * * *", "stuff", at(2013, 3, 21, 16, 56)),
        ("@hourly", "stuff", at(2013, 3, 21, 16, 56)),
        ("@hourly", "junk", at(2013, 3, 21, 17, 20)),
        ("H H(12-13) * * *", "stuff", at(2013, 3, 22, 13, 56)),
    ],
)
def test_upstream_hashed_minute(spec, seed, expected):
    assert ceil(spec, seed, at(2013, 3, 21, 16, 21)) == expected


@pytest.mark.parametrize(
    ("spec", "seed", "start", "expected"),
    [
        ("H/15 * * * *", "stuff", at(2013, 3, 21, 16, 21), at(2013, 3, 21, 16, 26)),
        ("H/15 * * * *", "stuff", at(2013, 3, 21, 16, 31), at(2013, 3, 21, 16, 41)),
        ("H/15 * * * *", "stuff", at(2013, 3, 21, 16, 42), at(2013, 3, 21, 16, 56)),
        ("H/15 * * * *", "stuff", at(2013, 3, 21, 16, 59), at(2013, 3, 21, 17, 11)),
        ("H(0-15)/3 * * * *", "junk", at(2013, 3, 21, 0, 0), at(2013, 3, 21, 0, 2)),
        ("H(0-3)/4 * * * *", "junk", at(2013, 3, 21, 0, 0), at(2013, 3, 21, 0, 2)),
        ("H(0-3)/4 * * * *", "junk", at(2013, 3, 21, 0, 5), at(2013, 3, 21, 1, 2)),
    ],
)
def test_upstream_hash_skips(spec, seed, start, expected):
    assert ceil(spec, seed, start) == expected


def test_upstream_h_slash_15_fires_at_11_26_41_56():
    spec = parse_spec("H/15 * * * *", seed="stuff")
    assert sorted(spec.lines[0].minutes) == [11, 26, 41, 56]


def test_upstream_repeated_hash_draws_continue_across_lines():
    spec = parse_spec("H * * * *\nH * * * *", seed="seed")
    assert sorted(m for line in spec.lines for m in line.minutes) == [35, 56]


def test_upstream_timezone_line_draws_nothing_and_applies_to_all_lines():
    spec = parse_spec("TZ=Australia/Sydney\nH * * * *\nH * * * *", seed="seed")
    assert spec.timezone == "Australia/Sydney" and spec.timezone_from_spec
    fired = [m for m in range(60) if spec.matches(at(2013, 4, 3, 11, m))]
    assert fired == [35, 56]


class _FixedHash(Hash):
    def __init__(self, pick):
        super().__init__(None)
        self._pick = pick

    def next(self, n):
        return self._pick(n)


@pytest.mark.parametrize(
    ("pick", "minutes", "hours", "days", "months"),
    [
        (lambda n: n - 1, [59], [8], [3, 6, 9, 12, 15, 18, 21, 24, 27], [4, 8]),
        (lambda n: 1, [1], [6], [2, 5, 8, 11, 14, 17, 20, 23, 26], [2, 6, 10]),
    ],
)
def test_upstream_hash_ranges_and_steps(pick, minutes, hours, days, months):
    line = _LineParser("H H(5-8) H/3 H(1-10)/4 *", 1, _FixedHash(pick)).parse()
    assert sorted(line.minutes) == minutes
    assert sorted(line.hours) == hours
    assert sorted(line.days_of_month) == days
    assert sorted(line.months) == months


@pytest.mark.parametrize(
    ("spec", "start", "expected"),
    [
        ("0,30 * * * *", at(2000, 3, 1, 1, 10), at(2000, 3, 1, 1, 30)),
        ("0,30 * * * *", at(2000, 3, 1, 1, 40), at(2000, 3, 1, 2, 0)),
        ("15,45 3 * * *", at(2000, 3, 1, 2, 30), at(2000, 3, 1, 3, 15)),
        # Day-of-month AND day-of-week: the next 1st of a month that is a Sunday.
        ("0 0 1 * 0", at(2010, 1, 1, 15, 55), at(2010, 8, 1, 0, 0)),
        ("0 0 1 * 7", at(2010, 1, 1, 15, 55), at(2010, 8, 1, 0, 0)),
        ("0 23 * * 1-5", at(2011, 1, 16, 0, 0), at(2011, 1, 17, 23, 0)),
        ("*/5 * * * *", at(2025, 3, 4, 14, 15, 23), at(2025, 3, 4, 14, 20)),
        ("*/5 * * * *", at(2025, 3, 4, 14, 15), at(2025, 3, 4, 14, 15)),
        ("0 0 31 * *", at(2024, 11, 5), at(2024, 12, 31)),
    ],
)
def test_upstream_ceil(spec, start, expected):
    assert ceil(spec, None, start) == expected


@pytest.mark.parametrize(
    ("spec", "start", "expected"),
    [
        ("30 * * * *", at(2000, 3, 1, 1, 40), at(2000, 3, 1, 1, 30)),
        ("30 * * * *", at(2000, 3, 1, 1, 10), at(2000, 3, 1, 0, 30)),
        ("15,45 3 * * *", at(2000, 3, 1, 4, 30), at(2000, 3, 1, 3, 45)),
        ("0 0 1 * 0", at(2011, 1, 1, 15, 55), at(2010, 8, 1, 0, 0)),
        ("*/5 * * * *", at(2025, 3, 4, 14, 19, 23), at(2025, 3, 4, 14, 15)),
    ],
)
def test_upstream_floor(spec, start, expected):
    assert parse_spec(spec, seed=None).previous_fire_time(start) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("H(0-3)/15 * * * *", "step 15 is out of range, must be within 1 and 4"),
        ("H H(12-24) * * *", "24 is an invalid value for the hour field, must be within 0 and 23"),
        ("H(33-66) * * * *", "66 is an invalid value for the minute field, must be within 0 and 59"),
    ],
)
def test_upstream_range_errors(spec, message):
    with pytest.raises(CronSpecError, match=message):
        parse_spec(spec, seed="junk")


def test_upstream_full_hash_bounds_are_accepted():
    parse_spec("H(0-59) H(0-23) H(1-31) H(1-12) H(0-7)", seed=None)


# --- aliases, lines, comments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "expansion"),
    [
        ("@yearly", "H H H H *"),
        ("@annually", "H H H H *"),
        ("@monthly", "H H H * *"),
        ("@weekly", "H H * * H"),
        ("@daily", "H H * * *"),
        ("@midnight", "H H(0-2) * * *"),
        ("@hourly", "H * * * *"),
    ],
)
def test_aliases_hash_like_their_expansion(alias, expansion):
    seed = "team-a/nightly/export"
    a = parse_spec(alias, seed=seed).lines[0]
    b = parse_spec(expansion, seed=seed).lines[0]
    assert (a.minutes, a.hours, a.days_of_month, a.months, a.days_of_week) == (
        b.minutes, b.hours, b.days_of_month, b.months, b.days_of_week
    )


def test_midnight_stays_before_three_and_monthly_day_stays_within_28():
    for n in range(200):
        seed = f"folder/job-{n}"
        assert max(parse_spec("@midnight", seed=seed).lines[0].hours) <= 2
        assert max(parse_spec("@monthly", seed=seed).lines[0].days_of_month) <= 28
        assert parse_spec("H H * * H", seed=seed).lines[0].days_of_week <= set(range(7))


def test_hash_seed_is_the_full_name_folders_included():
    with_folder = parse_spec("H H * * *", seed="team-a/nightly/export").lines[0]
    without = parse_spec("H H * * *", seed="export").lines[0]
    assert (with_folder.minutes, with_folder.hours) != (without.minutes, without.hours)
    again = parse_spec("H H * * *", seed="team-a/nightly/export").lines[0]
    assert (again.minutes, again.hours) == (with_folder.minutes, with_folder.hours)


def test_lines_are_ored_and_comments_and_blank_lines_ignored():
    spec = parse_spec("# nightly\n\n0 2 * * *\n  30 14 * * 6  \n", seed=None)
    assert len(spec.lines) == 2
    assert spec.fire_times(at(2024, 6, 7, 3, 0), 3) == [
        at(2024, 6, 8, 2, 0), at(2024, 6, 8, 14, 30), at(2024, 6, 9, 2, 0)
    ]


def test_tz_is_honoured_on_the_first_line_only():
    with pytest.raises(CronSpecError, match="line 2"):
        parse_spec("# comment\nTZ=Europe/Berlin\n0 2 * * *", seed=None)


def test_default_timezone_is_the_controller_zone_unless_tz_given():
    spec = parse_spec("0 2 * * *", seed=None, default_timezone="America/New_York")
    assert spec.timezone == "America/New_York" and not spec.timezone_from_spec
    assert spec.next_fire_time(at(2024, 1, 10)) == at(2024, 1, 10, 7, 0)
    spec = parse_spec("TZ=Asia/Tokyo\n0 2 * * *", seed=None, default_timezone="America/New_York")
    assert spec.next_fire_time(at(2024, 1, 10)) == at(2024, 1, 10, 17, 0)


def test_lists_ranges_and_steps():
    line = parse_spec("1,2,10-20/5 */6 1-31/10 1-12/4 1-5", seed=None).lines[0]
    assert sorted(line.minutes) == [1, 2, 10, 15, 20]
    assert sorted(line.hours) == [0, 6, 12, 18]
    assert sorted(line.days_of_month) == [1, 11, 21, 31]
    assert sorted(line.months) == [1, 5, 9]
    assert sorted(line.days_of_week) == [1, 2, 3, 4, 5]


def test_day_of_week_seven_is_sunday():
    assert parse_spec("0 0 * * 7", seed=None).lines[0].days_of_week == {0}
    assert parse_spec("0 0 * * */7", seed=None).lines[0].days_of_week == {0}


def test_day_of_month_and_day_of_week_are_anded_not_ored():
    # Standard cron would fire on every 13th AND every Friday; Jenkins only on Friday the 13th.
    spec = parse_spec("0 9 13 * 5", seed=None)
    assert spec.fire_times(at(2024, 1, 1), 2) == [at(2024, 9, 13, 9, 0), at(2024, 12, 13, 9, 0)]


# --- DST: wall-clock minutes as Jenkins checks them ------------------------------------------------


def test_nonexistent_local_time_is_skipped_on_spring_forward():
    spec = parse_spec("TZ=Europe/Berlin\n30 2 * * *", seed=None)
    # 2024-03-31 02:30 does not exist in Berlin; Jenkins never sees that minute.
    assert spec.fire_times(at(2024, 3, 30, 12), 2) == [at(2024, 4, 1, 0, 30), at(2024, 4, 2, 0, 30)]


def test_repeated_local_time_fires_twice_on_fall_back():
    spec = parse_spec("TZ=Europe/Berlin\n30 2 * * *", seed=None)
    assert spec.fire_times(at(2024, 10, 26, 12), 3) == [
        at(2024, 10, 27, 0, 30), at(2024, 10, 27, 1, 30), at(2024, 10, 28, 1, 30)
    ]


def test_previous_fire_time_across_fall_back():
    spec = parse_spec("TZ=Europe/Berlin\n30 2 * * *", seed=None)
    assert spec.previous_fire_time(at(2024, 10, 27, 1, 10)) == at(2024, 10, 27, 0, 30)
    assert spec.previous_fire_time(at(2024, 10, 27, 1, 45)) == at(2024, 10, 27, 1, 30)


# --- rendering as standard cron --------------------------------------------------------------------


def test_single_utc_line_renders_as_plain_cron():
    spec = parse_spec("H/15 2-5 * * 1-5", seed="stuff")
    assert spec.single_standard_cron() == "11,26,41,56 2-5 * * 1-5"


@pytest.mark.parametrize(
    "text",
    ["0 9 13 * 5", "0 2 * * *\n0 3 * * *", "TZ=Europe/Berlin\n0 2 * * *"],
)
def test_specs_standard_cron_cannot_express_have_no_plain_cron(text):
    assert parse_spec(text, seed=None).single_standard_cron() is None


def test_full_day_of_month_renders_as_star_so_cron_keeps_the_and():
    spec = parse_spec("0 0 1-31 * 1", seed=None)
    assert spec.single_standard_cron() == "0 0 * * 1"


# --- errors name the line, column and token --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "token"),
    [
        ("* * * *", 1, None),
        ("@fortnightly", 1, "fortnightly"),
        ("5/10 * * * *", 1, "/"),
        ("0 0 * * MON", 1, "M"),
        ("0 0 * * *\n61 0 * * *", 2, "61"),
        ("TZ=Mars/Olympus\n0 0 * * *", 1, "Mars/Olympus"),
        ("0 0 * * * *", 1, "*"),
        ("*/0 * * * *", 1, "0"),
        ("10-5 * * * *", 1, "10"),
        ("@daily 5", 1, "5"),
    ],
)
def test_invalid_specs_name_line_and_token(text, line, token):
    with pytest.raises(CronSpecError) as info:
        parse_spec(text, seed="x")
    assert info.value.line == line
    assert info.value.token == token
    assert f"line {line}" in str(info.value)
