"""The Airflow timetable for schedules that standard cron cannot express with Jenkins' meaning.

Used when a job's schedule has several lines (ORed), restricts both day-of-month and day-of-week
(Jenkins ANDs them, cron ORs them), or runs in a zone other than UTC (Jenkins fires on wall-clock
minutes: a DST gap is skipped, a repeated hour fires twice). Single-line UTC schedules use Airflow's
own ``CronTriggerTimetable`` instead, which reads best in the UI.

The scheduler only deserializes custom timetables that a plugin registers: see
``plugins/batch_platform_plugin.py``. The class must therefore be importable under the same name
(``batch_platform.timetable.JenkinsCronTimetable``) in the DAG processor, the scheduler and the API
server: the platform image installs this package for that (``images/airflow/library``).

Run semantics match ``CronTriggerTimetable`` for DAGs with ``catchup=False`` and no start date, the
way the DAG factory builds them: each run's logical date is its fire time (a zero-length data
interval); the first run is the first fire time after the DAG is first scheduled (Jenkins does not
start missed builds either); after a pause or an outage the most recent missed fire time runs once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, Timetable
import pendulum

from batch_platform.jenkins_cron import CronSpec, CronSpecError, parse_spec


class JenkinsCronTimetable(Timetable):
    """Fire on every minute that matches any of the cron ``lines`` read in ``timezone`` (Jenkins rules).

    ``lines`` are resolved lines (no ``H``, already hashed by the converter or the DAG factory) in
    standard 5-field syntax; ``timezone`` is an IANA zone name.
    """

    def __init__(self, lines: list[str] | tuple[str, ...], timezone: str = "UTC"):
        self.lines = tuple(lines)
        self.timezone = timezone
        text = "\n".join(self.lines)
        # seed=None: resolved lines contain no H; if one did, Jenkins' zero hash would apply.
        self._spec: CronSpec = parse_spec(text, seed=None, default_timezone=timezone)
        self.description = _describe(self.lines, timezone)

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> JenkinsCronTimetable:
        return cls(data["lines"], data["timezone"])

    def serialize(self) -> dict[str, Any]:
        return {"lines": list(self.lines), "timezone": self.timezone}

    def validate(self) -> None:
        if not self.lines:
            from airflow.exceptions import AirflowTimetableInvalid

            raise AirflowTimetableInvalid("a Jenkins cron timetable needs at least one line")

    @property
    def summary(self) -> str:
        joined = " | ".join(self.lines)
        return joined if self.timezone == "UTC" else f"{joined} ({self.timezone})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JenkinsCronTimetable):
            return NotImplemented
        return (self.lines, self.timezone) == (other.lines, other.timezone)

    def __hash__(self) -> int:
        return hash((self.lines, self.timezone))

    def infer_manual_data_interval(self, *, run_after) -> DataInterval:
        return DataInterval.exact(_pendulum(run_after))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction,
    ) -> DagRunInfo | None:
        now = datetime.now(UTC)
        return self.next_run_at(last_automated_data_interval, restriction, now)

    def next_run_at(self, last_automated_data_interval, restriction, now: datetime) -> DagRunInfo | None:
        """``next_dagrun_info`` with an explicit clock, so the rules can be tested deterministically."""
        spec = self._spec
        earliest = restriction.earliest
        if restriction.catchup:
            if last_automated_data_interval is not None:
                candidate = spec.next_fire_time(last_automated_data_interval.end)
            else:
                candidate = spec.next_fire_time(earliest or now, inclusive=True)
        else:
            candidates = []
            if last_automated_data_interval is not None:
                candidates.append(spec.next_fire_time(last_automated_data_interval.end))
                # Missed fire times are not made up for; the most recent one runs once.
                candidates.append(spec.previous_fire_time(now))
            else:
                candidates.append(spec.next_fire_time(now, inclusive=True))
            if earliest is not None:
                candidates.append(spec.next_fire_time(earliest, inclusive=True))
            found = [c for c in candidates if c is not None]
            candidate = max(found) if found else None
            if candidates and candidates[0] is None:
                candidate = None  # the schedule never fires again
        if candidate is None:
            return None
        if restriction.latest is not None and candidate > restriction.latest:
            return None
        return DagRunInfo.exact(_pendulum(candidate))


def _pendulum(moment: datetime):
    """Airflow's scheduler works with pendulum datetimes in UTC."""
    return pendulum.instance(moment).in_timezone("UTC")


def _describe(lines: tuple[str, ...], timezone: str) -> str:
    where = "UTC" if timezone == "UTC" else f"wall-clock time in {timezone}"
    return (
        f"Jenkins schedule ({where}): fires when any line matches; "
        "within a line day-of-month AND day-of-week must both match"
    )


def timetable_for(spec: CronSpec):
    """The simplest Airflow timetable with the same fire times as a parsed Jenkins spec.

    A plain cron string in a ``CronTriggerTimetable`` when one exists (see
    ``CronSpec.single_standard_cron``), otherwise a ``JenkinsCronTimetable``.
    """
    from airflow.sdk import CronTriggerTimetable

    if not spec.lines:
        raise CronSpecError("the schedule has no cron line (only comments or blank lines)")
    plain = spec.single_standard_cron()
    if plain is not None:
        # run_immediately=timedelta(0): the first run is the next fire time, never a missed one.
        return CronTriggerTimetable(plain, timezone="UTC", run_immediately=timedelta(0))
    return JenkinsCronTimetable([line.to_cron() for line in spec.lines], spec.timezone)
