"""Capacity: the most users each worker serves, by the shape of its work.

Fanned-out cron workers (content_trends, alert_checker): a run publishes one message per chunk of users;
QStash delivers at most `parallelism` of them at once (flow control, the workers' reserved concurrency), each
holding one database connection. A chunk is sized so that every call at the model's p95 latency still ends by
the message deadline; a message takes, typically, its fixed work plus every unit's calls at the p50 latency
(every user of the chunk calling the model: the most the worker's limits allow in one run). The run is done
when its last wave of messages is, and must be done before the next run starts:

    max_users = chunk_size x concurrent messages x floor(period / message seconds)

Event workers (video_processing: QStash delivers one message per upload): the users whose uploads of the
busiest hour the stack processes within that hour, so the backlog never grows from one peak hour to the next.
Uploads spread over the month's hours, the busiest at `peak_hour_factor` times the average hour:

    peak uploads per user per hour = uploads_per_user_per_month / 730 h x peak_hour_factor
    messages per hour = concurrent messages x 3,600 s / message seconds (job_base + calls x p50)
    max_users = floor(messages per hour / peak uploads per user per hour)

The roll-up cron worker (data_processing: one set-based SQL roll-up of every user's events per run, not
fanned out): the users whose events the run rolls up and exports within its message deadline (and within its
schedule's period, when that is shorter), at the roll-up throughput measured on PostgreSQL
(rules.yaml `rollup_events_per_second`):

    max_users = floor((min(deadline, period) - job_base) x events per second / (events_per_user_per_day x days_per_run))

Custom workers (answer `custom_workers`): an event one as the video worker, its messages a user a month in
place of uploads; a cron one with a model fans out as the reference cron workers (the formula above, its
period the schedule's shortest gap between two runs, every user of a chunk calling the model); a cron one
without a model sends one message a run, which must end within its message deadline (and before the next run,
at the schedule's shortest gap):

    max_users = floor((min(deadline, shortest gap) - job_base) / (calls per user per run x p50))

with calls per user per run = 0 without a model: no per-user work the plan knows of, MAX_USERS, said in its
basis (custom_cron_capacity still takes calls_per_user_per_month / runs a month for a worker that calls one).

In every case concurrent messages = min(parallelism, the database connections left to the workers / the
connections a message holds: the Lambda's pool, twice over for a worker that calls a model, whose spend
ledger commits on its own connection while the job's transaction is open), and the
figures are the usage profile's expected ones (not the high estimate's multiple). Different workers' messages
that coincide share the same parallelism; the plan does not subtract them.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from generator.plan.answers import MAX_USERS, UsageProfile
from generator.plan.limits import units_within_deadline
from generator.plan.rules import Rules
from generator.plan.sizing import HOURS_PER_MONTH, CustomWorkerSizing, Sizing

Limiting = Literal[
    "parallelism", "database_connections", "message_deadline", "schedule_period", "rollup_throughput", "one_message_run"
]
SECONDS_PER_HOUR = 3600


class WorkerCapacity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_users: int
    # What bounds max_users: raising it (or lengthening the schedule) lifts the limit.
    limiting: Limiting
    # The figures used, by name (seconds, counts).
    figures: dict[str, float]
    basis: str


def workers_db_connections(sizing: Sizing, rules: Rules) -> int:
    """The connections the workers may hold at once: under the db_connections alarm's threshold, less the
    ones kept for the cron function, migrations and operators."""
    alarm_share = rules.alarm("db_connections").threshold
    return max(0, math.floor(alarm_share * sizing.rds.max_connections) - rules.constants.db_connections_reserved)


def _message_figures(worker: str, usage: UsageProfile, sizing: Sizing, rules: Rules) -> dict[str, float]:
    """What every worker's message shares: its calls and their latency, its deadline, the messages in flight."""
    limits = sizing.worker_limits[worker]
    calls = limits.model_calls_per_unit
    parallelism = sizing.workers_lambda.reserved_concurrency
    connections = workers_db_connections(sizing, rules)
    # The job's pool, and as many again for the spend ledger while a model call runs (app/spend_guard.py).
    per_message = sizing.workers_lambda.db_pool_size * (2 if calls else 1)
    return {
        "model_calls_per_unit": calls,
        "model_latency_p50_seconds": usage.model_latency_p50_seconds,
        "model_latency_p95_seconds": usage.model_latency_p95_seconds,
        "job_base_seconds": usage.job_base_seconds,
        "message_deadline_seconds": limits.message_deadline_seconds,
        "lambda_timeout_seconds": sizing.workers_lambda.timeout_seconds,
        "parallelism": parallelism,
        "db_max_connections": sizing.rds.max_connections,
        "db_connections_for_workers": connections,
        "db_connections_per_message": per_message,
        "concurrent_messages": min(parallelism, connections // per_message),
    }


def _connections_phrase(figures: dict[str, float]) -> str:
    per = figures["db_connections_per_message"]
    return f"{figures['db_connections_for_workers']:,.0f} database connections for the workers, {per:,.0f} a message"


def _in_flight_limit(figures: dict[str, float]) -> Limiting:
    by_connections = figures["db_connections_for_workers"] // figures["db_connections_per_message"]
    return "database_connections" if by_connections < figures["parallelism"] else "parallelism"


def worker_capacity(
    worker: str, users: int, every_minutes: int, usage: UsageProfile, sizing: Sizing, rules: Rules
) -> WorkerCapacity:
    """A fanned-out cron worker's capacity when it runs every `every_minutes`."""
    limits = sizing.worker_limits[worker]
    assert limits.chunk_size is not None  # fanned-out workers only
    chunk, calls = limits.chunk_size, limits.model_calls_per_unit
    deadline = limits.message_deadline_seconds
    period = every_minutes * 60
    figures = _message_figures(worker, usage, sizing, rules)
    parallelism = int(figures["parallelism"])
    concurrent = int(figures["concurrent_messages"])
    message_seconds = usage.job_base_seconds + chunk * calls * usage.model_latency_p50_seconds
    waves = math.floor(period / message_seconds)
    messages = math.ceil(users / chunk)
    figures |= {
        "users": users,
        "chunk_size": chunk,
        "message_seconds_p50": round(message_seconds, 3),
        "message_seconds_p95": round(usage.job_base_seconds + chunk * calls * usage.model_latency_p95_seconds, 3),
        "period_seconds": period,
        "waves_per_period": waves,
        "messages_per_run": messages,
    }
    if concurrent:
        # How long a run takes at the plan's user count.
        figures["run_seconds"] = round(math.ceil(messages / concurrent) * message_seconds, 3)
    limiting = _in_flight_limit(figures)
    if units_within_deadline(calls, deadline, usage) < 1:
        max_users, limiting = 0, "message_deadline"
    elif waves < 1:
        max_users, limiting = 0, "schedule_period"
    else:
        max_users = chunk * concurrent * waves
    basis = (
        f"{chunk} user{'s' * (chunk != 1)} per message, sized for {calls} model call each at the p95 latency of "
        f"{usage.model_latency_p95_seconds:g} s within the {deadline} s deadline; {message_seconds:,.0f} s per "
        f"message at the p50 latency of {usage.model_latency_p50_seconds:g} s; {concurrent} messages at once "
        f"(parallelism {parallelism}, {_connections_phrase(figures)}); "
        f"{waves} wave{'s' * (waves != 1)} in each {every_minutes}-minute run"
    )
    return WorkerCapacity(max_users=max_users, limiting=limiting, figures=figures, basis=basis)


def event_capacity(
    worker: str,
    users: int,
    usage: UsageProfile,
    sizing: Sizing,
    rules: Rules,
    messages_per_user_per_month: float | None = None,
) -> WorkerCapacity:
    """An event worker's capacity: the users whose busiest hour of messages (uploads, unless a custom worker's
    figure is given) is processed within the hour."""
    per_month = usage.uploads_per_user_per_month if messages_per_user_per_month is None else messages_per_user_per_month
    job = "upload" if messages_per_user_per_month is None else "job"
    figures = _message_figures(worker, usage, sizing, rules)
    calls, deadline = int(figures["model_calls_per_unit"]), int(figures["message_deadline_seconds"])
    concurrent = int(figures["concurrent_messages"])
    message_seconds = usage.job_base_seconds + calls * usage.model_latency_p50_seconds
    per_hour = concurrent * SECONDS_PER_HOUR / message_seconds
    peak_per_user = per_month / HOURS_PER_MONTH * usage.peak_hour_factor
    figures |= {
        "users": users,
        f"{job}s_per_user_per_month": per_month,
        "hours_per_month": HOURS_PER_MONTH,
        "peak_hour_factor": usage.peak_hour_factor,
        f"peak_{job}s_per_user_per_hour": round(peak_per_user, 6),
        f"peak_{job}s_per_hour": round(users * peak_per_user, 3),
        "message_seconds_p50": round(message_seconds, 3),
        "message_seconds_p95": round(usage.job_base_seconds + calls * usage.model_latency_p95_seconds, 3),
        "messages_per_hour": round(per_hour, 3),
    }
    limiting = _in_flight_limit(figures)
    if units_within_deadline(calls, deadline, usage) < 1:
        max_users, limiting = 0, "message_deadline"
    elif peak_per_user == 0:
        max_users = MAX_USERS  # no messages expected: nothing to process at any user count the plan takes
    else:
        max_users = math.floor(per_hour / peak_per_user)
    basis = (
        f"one message per {job}, {message_seconds:,.0f} s each ({calls} model call at the p50 latency of "
        f"{usage.model_latency_p50_seconds:g} s); {concurrent} messages at once (parallelism "
        f"{figures['parallelism']:,.0f}, {_connections_phrase(figures)}): "
        f"{per_hour:,.0f} {job}s an hour against {peak_per_user:.4f} per user in the busiest hour "
        f"({per_month:,g} a month over {HOURS_PER_MONTH} h x peak factor "
        f"{usage.peak_hour_factor:g}), processed within that hour"
    )
    return WorkerCapacity(max_users=max_users, limiting=limiting, figures=figures, basis=basis)


def rollup_capacity(
    worker: str, users: int, every_minutes: int, usage: UsageProfile, sizing: Sizing, rules: Rules
) -> WorkerCapacity:
    """A roll-up worker's capacity: the users whose events one run rolls up within its message deadline."""
    limits = sizing.worker_limits[worker]
    days = limits.days_per_run or 1
    deadline, period = limits.message_deadline_seconds, every_minutes * 60
    throughput = rules.constants.rollup_events_per_second
    per_user = usage.events_per_user_per_day * days
    budget = min(deadline, period) - usage.job_base_seconds
    figures: dict[str, float] = {
        "users": users,
        "events_per_user_per_day": usage.events_per_user_per_day,
        "days_per_run": days,
        "events_per_user_per_run": per_user,
        "events_per_run": users * per_user,
        "rollup_events_per_second": throughput,
        "job_base_seconds": usage.job_base_seconds,
        "message_deadline_seconds": deadline,
        "lambda_timeout_seconds": sizing.workers_lambda.timeout_seconds,
        "period_seconds": period,
        "run_seconds": round(usage.job_base_seconds + users * per_user / throughput, 3),
    }
    if budget <= 0:
        max_users = 0
    elif per_user == 0:
        max_users = MAX_USERS  # no events expected: nothing to roll up at any user count the plan takes
    else:
        max_users = math.floor(budget * throughput / per_user)
    bound = f"the {deadline} s message deadline" if deadline <= period else f"the {every_minutes}-minute schedule"
    basis = (
        f"one set-based roll-up a run of {days} day{'s' * (days != 1)} of events, "
        f"{usage.events_per_user_per_day:,g} per user a day, at {throughput:,} events a second (measured, "
        f"rules.yaml rollup_events_per_second), within {bound} less {usage.job_base_seconds:g} s of fixed work"
    )
    return WorkerCapacity(max_users=max_users, limiting="rollup_throughput", figures=figures, basis=basis)


def custom_cron_capacity(
    custom: CustomWorkerSizing, users: int, usage: UsageProfile, sizing: Sizing, rules: Rules
) -> WorkerCapacity:
    """A custom cron worker's capacity: one message a run makes every user's calls of the run in turn."""
    assert custom.runs_per_month and custom.shortest_gap_minutes  # a cron worker's
    figures = _message_figures(custom.name, usage, sizing, rules)
    per_run = custom.calls_per_user_per_month / custom.runs_per_month if figures["model_calls_per_unit"] else 0.0
    deadline, gap = int(figures["message_deadline_seconds"]), custom.shortest_gap_minutes * 60
    budget = min(deadline, gap) - usage.job_base_seconds
    message_seconds = usage.job_base_seconds + users * per_run * usage.model_latency_p50_seconds
    figures |= {
        "users": users,
        "calls_per_user_per_month": custom.calls_per_user_per_month,
        "runs_per_month": round(custom.runs_per_month, 6),
        "calls_per_user_per_run": round(per_run, 6),
        "period_seconds": gap,
        "message_seconds_p50": round(message_seconds, 3),
        "message_seconds_p95": round(usage.job_base_seconds + users * per_run * usage.model_latency_p95_seconds, 3),
    }
    limiting: Limiting = "one_message_run"
    if budget <= 0:
        max_users = 0
        limiting = "schedule_period" if gap < deadline else "message_deadline"
        why = f"its fixed work ({usage.job_base_seconds:g} s) does not fit"
    elif per_run == 0:
        max_users = MAX_USERS
        why = "no model call per user: the plan knows of no work that grows with users"
    else:
        max_users = math.floor(budget / (per_run * usage.model_latency_p50_seconds))
        why = (
            f"{per_run:.3f} calls per user a run ({custom.calls_per_user_per_month:g} a month over "
            f"{custom.runs_per_month:,.2f} runs) at the p50 latency of {usage.model_latency_p50_seconds:g} s"
        )
    bound = f"the {deadline} s message deadline" if deadline <= gap else f"the {gap // 60:g}-minute gap between runs"
    basis = f"custom worker, one message a run (not fanned out) within {bound} less the fixed work: {why}"
    return WorkerCapacity(max_users=max_users, limiting=limiting, figures=figures, basis=basis)


def capacity(users: int, usage: UsageProfile, sizing: Sizing, rules: Rules) -> dict[str, WorkerCapacity]:
    """Every chosen worker's capacity at the plan's sizing, in the answers' order."""
    every = {s.worker: s.every_minutes for s in sizing.qstash.schedules}
    found: dict[str, WorkerCapacity] = {}
    for worker, limits in sizing.worker_limits.items():
        custom = sizing.custom_workers.get(worker)
        if custom is not None and custom.trigger == "event":
            found[worker] = event_capacity(worker, users, usage, sizing, rules, custom.calls_per_user_per_month)
        elif custom is not None and limits.chunk_size is not None:
            # Fanned out (a model call per user): between two runs at the schedule's shortest gap.
            assert custom.shortest_gap_minutes is not None  # a cron worker's
            found[worker] = worker_capacity(worker, users, custom.shortest_gap_minutes, usage, sizing, rules)
        elif custom is not None:
            found[worker] = custom_cron_capacity(custom, users, usage, sizing, rules)
        elif (minutes := every.get(worker)) is None:
            found[worker] = event_capacity(worker, users, usage, sizing, rules)
        elif limits.chunk_size is not None:
            found[worker] = worker_capacity(worker, users, minutes, usage, sizing, rules)
        else:
            found[worker] = rollup_capacity(worker, users, minutes, usage, sizing, rules)
    return found
