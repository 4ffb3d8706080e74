"""Cron schedules as admins write them, turned into APScheduler 3 triggers.

Standard cron numbers the days of the week 0 (or 7) = Sunday, 1 = Monday … 6 = Saturday. APScheduler 3's
CronTrigger numbers them 0 = Monday … 6 = Sunday: its `from_crontab` docstring calls this "a historical
mistake" that 3.x keeps for compatibility (agronholm/apscheduler#286). Passed through as typed,
'15 3 * * 1-5' would run Tuesday to Saturday and '0 4 * * 7' would be refused. So the day-of-week field
is read here as standard cron and handed to APScheduler as day names, which both read alike.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

# Index = the day's number in standard cron (7 is Sunday again); the names cron and APScheduler share.
CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(schedule: str, timezone: str) -> CronTrigger:
    """The trigger for a 5-field cron schedule in `timezone`; ValueError says what is wrong."""
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"een cron-planning heeft 5 velden, bijvoorbeeld '15 3 * * *' (niet '{schedule}')")
    if fields[2] != "*" and fields[4] != "*":
        # Cron runs when either matches, APScheduler only when both do: '15 3 1 * 1' would lose almost
        # every night without a word.
        raise ValueError(
            f"'{schedule}' noemt een dag van de maand én een dag van de week; cron leest dat als 'of',"
            " de planner als 'en'. Kies er één (zet de andere op *)"
        )
    fields[4] = day_of_week(fields[4])
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=ZoneInfo(timezone))
    except ValueError as exc:
        raise ValueError(f"ongeldige cron-planning '{schedule}': {exc}") from exc


def fires_in_hour(trigger: CronTrigger, hour: int) -> bool:
    """Whether the schedule's hour field takes `hour` (ranges, lists and steps included)."""
    field = next(f for f in trigger.fields if f.name == "hour")
    return bool(field.get_next_value(datetime(2000, 1, 1, hour)) == hour)


def day_of_week(field: str) -> str:
    """A standard cron day-of-week field as APScheduler day names: numbers, names, ranges, lists, steps."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.split(","):
        days |= _days(item, field)
    # Monday first, like the week on a Dutch calendar; the order means nothing to APScheduler.
    return ",".join(CRON_DAYS[day] for day in sorted(days, key=lambda day: (day + 6) % 7))


def _days(item: str, field: str) -> set[int]:
    base, _, step_text = item.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ValueError(f"ongeldige stap '/{step_text}' in de weekdagen '{field}'")
        step = int(step_text)
    if base == "*":
        first, last = 0, 7
    elif "-" in base:
        start, _, end = base.partition("-")
        first, last = _day(start, field), _day(end, field)
        if last == 0 < first:
            last = 7  # 'sat-sun' is the weekend: Sunday at the end of a range is day 7
    else:
        first = _day(base, field)
        last = 7 if step_text else first  # 'a/n': from a to the end of the week, as cron reads it
    if first > last:
        raise ValueError(f"de reeks '{base}' in de weekdagen '{field}' loopt achteruit")
    return {day % 7 for day in range(first, last + 1, step)}


def _day(token: str, field: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token.lower() in CRON_DAYS:
        return CRON_DAYS.index(token.lower())
    raise ValueError(
        f"onbekende weekdag '{token}' in '{field}': gebruik 0-7 (0 en 7 zijn zondag, 1 is maandag)"
        " of mon, tue, wed, thu, fri, sat, sun"
    )
