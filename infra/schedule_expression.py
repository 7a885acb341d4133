"""The recurring schedule expressions EventBridge Scheduler accepts, checked before synth.

EventBridge Scheduler ("Schedule types", Scheduler user guide) takes ``rate(value unit)`` with a
positive whole value and a unit of minute(s), hour(s) or day(s), and ``cron(minutes hours
day-of-month month day-of-week year)``: six fields, where day-of-month and day-of-week cannot
both be given, so exactly one of them is ``?``; each field allows the wildcards that user guide
lists. A one-time ``at(...)`` expression is refused: a forecast schedule recurs.
CloudFormation would accept a malformed expression at synth and fail the deploy half-way; this
check names the cdk.json key instead. No CDK import, so settings tests stay jsii-free.
"""

from __future__ import annotations

import re

_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\((?P<fields>[^()]*)\)$")
# Allowed characters per cron field (the "Wildcards" column of the cron table).
_CRON_FIELDS = (
    ("minutes", re.compile(r"^[0-9,\-*/]+$")),
    ("hours", re.compile(r"^[0-9,\-*/]+$")),
    ("day-of-month", re.compile(r"^[0-9,\-*?/LW]+$")),
    ("month", re.compile(r"^[0-9A-Za-z,\-*/]+$")),
    ("day-of-week", re.compile(r"^[0-9A-Za-z,\-*?L#]+$")),
    ("year", re.compile(r"^[0-9,\-*/]+$")),
)
EXPECTED = (
    'a recurring EventBridge Scheduler expression: "cron(minutes hours day-of-month month '
    'day-of-week year)" with "?" in one of the day fields, or "rate(N minutes|hours|days)"'
)


def schedule_problem(expression: str) -> str | None:
    """What is wrong with ``expression`` as a recurring schedule, or None when it is valid."""
    if expression.startswith("at("):
        return "a one-time at() schedule; a forecast schedule recurs"
    rate = _RATE.match(expression)
    if rate:
        return None if int(rate["value"]) >= 1 else "a rate of 0; expected at least 1"
    cron = _CRON.match(expression)
    if not cron:
        return "neither cron(...) nor rate(...)"
    fields = cron["fields"].split()
    if len(fields) != len(_CRON_FIELDS):
        return f"{len(fields)} cron fields; expected 6"
    for value, (name, allowed) in zip(fields, _CRON_FIELDS, strict=True):
        if not allowed.match(value):
            return f"cron field {name} {value!r} has characters that field does not allow"
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        return "exactly one of day-of-month and day-of-week must be '?'"
    return None
