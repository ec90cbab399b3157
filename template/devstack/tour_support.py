"""The generic part of the tour (`devstack.tour`): the stack, the SDK client, the jobs and the report.
What each worker needs and shows lives in `devstack.tour_steps.<worker>`."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

from devstack.stack import QSTASH_TOKEN, LocalStack, load_plan_json

DEMO_USER = "demo-user"


class TourError(Exception):
    """A step did not do what it should."""


def say(line: str) -> None:
    print(line, flush=True)


class Tour:
    def __init__(self, stack: LocalStack) -> None:
        import psycopg
        from qstash import QStash

        self.stack = stack
        self.plan = load_plan_json()
        self.workers = {w["name"]: w for w in self.plan["workers"]}
        self.conn: Any = psycopg.connect(stack.env["DATABASE_URL"], autocommit=True)
        self.client = QStash(QSTASH_TOKEN, retry=False, base_url=stack.env["QSTASH_URL"])
        self.summary: list[str] = []
        self._schedules: dict[str, str] | None = None

    @property
    def qstash(self) -> Any:
        assert self.stack.qstash is not None
        return self.stack.qstash

    def step(self, title: str) -> None:
        say(f"==> {title}")

    def say(self, line: str) -> None:
        say(f"    {line}")

    def close(self) -> None:
        self.conn.close()

    def scalar(self, query: str, *params: Any) -> Any:
        row = self.conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def run(self) -> None:
        from devstack.tour_steps import load

        steps = load(list(self.workers))
        self.say(f"workers in app/plan.json: {', '.join(self.workers)}")
        first: str | None = None
        for name, module in steps:
            module.prepare(self)
            cron = self.workers[name]["trigger"] == "cron"
            message_id = self.tick(name) if cron else self.publish(name, module)
            if first is None:
                # QStash delivers at least once: show the first job's copy being ignored.
                self.duplicate(message_id)
                first = message_id
        # Outgoing notifications are messages too: let the stand-in deliver them before the report.
        self.qstash.wait_idle()
        self.report(steps)
        from devstack.tour_budget import show as show_spend_guard

        show_spend_guard(self, steps)

    def publish(self, name: str, module: ModuleType) -> str:
        self.step(f"publish a {name} job through the qstash SDK (pointed at the QStash stand-in)")
        message_id = self.publish_job(name, module)
        self.say(f"published {message_id} -> {self.workers[name]['route']}")
        self.settle(name, message_id, "signed delivery")
        return message_id

    def publish_job(self, name: str, module: ModuleType) -> str:
        """One job for an event worker, published as QStash would deliver it (retries, failure callback)."""
        published: Any = self.client.message.publish_json(
            url=self.stack.route_url(self.workers[name]["route"]),
            body=module.payload(self),
            retries=self.plan["qstash"]["retries"],
            failure_callback=self.stack.route_url(self.plan["qstash"]["failure_callback_route"]),
        )
        return str(published.message_id)

    def tick(self, name: str) -> str:
        schedules = self.sync_schedules()
        self.step(f"one cron tick of {name} (a signed delivery from its QStash schedule)")
        message_id: str = self.qstash.trigger_schedule(schedules[name])
        self.settle(name, message_id, "tick")
        self.fanned_out(name, message_id)
        return message_id

    def fanned_out(self, name: str, tick: str) -> None:
        """A fanned-out tick only published its chunks: wait until QStash delivered them all, then show them."""
        chunk_size = self.workers[name].get("limits", {}).get("chunk_size")
        if chunk_size is None:
            return
        self.qstash.wait_idle()
        chunks, done, users = self.conn.execute(
            "SELECT count(*), count(done_at), coalesce(sum(jsonb_array_length(units)), 0) FROM fanout_chunks"
            " WHERE tick_id = %s",
            (tick,),
        ).fetchone()
        self.say(
            f"the tick fanned out {users} user(s) into {chunks} chunk message(s) of at most {chunk_size}"
            f" (QStash batch publish, flow control); {done} done"
        )
        if done != chunks:
            raise TourError(f"{chunks - done} of the {name} tick's {chunks} chunk message(s) did not finish")

    def settle(self, name: str, message_id: str, what: str) -> None:
        message = self.qstash.wait_for(message_id)
        last = message.attempts[-1]
        self.say(f"{what} {message_id} answered {last.status}: {last.response[:300]}")
        if message.state != "delivered":
            raise TourError(f"the {name} job failed: {last.status} {last.response}")

    def sync_schedules(self) -> dict[str, str]:
        """Schedule id per cron worker, created once the way scripts/sync_schedules.py does."""
        if self._schedules is not None:
            return self._schedules
        from app.plan import load_plan
        from app.schedules import apply_changes, desired_schedules, plan_changes
        from app.settings import DEFAULT_PLAN_PATH

        self.step("sync the plan's cron schedules to the stand-in (what scripts/sync_schedules.py does)")
        plan = load_plan(DEFAULT_PLAN_PATH)
        base = self.stack.app_url
        changes = plan_changes(plan, base, self.client.schedule.list())
        apply_changes(self.client, plan, base, changes)
        by_url = {s.destination: s.schedule_id for s in desired_schedules(plan, base)}
        self._schedules = {
            name: by_url[self.stack.route_url(w["route"])] for name, w in self.workers.items() if w["trigger"] == "cron"
        }
        self.say(f"{len(changes)} schedule(s): {', '.join(sorted(self._schedules.values()))}")
        return self._schedules

    def duplicate(self, message_id: str) -> None:
        self.step("deliver the same message again (QStash delivers at least once)")
        again = self.qstash.deliver_again(message_id)
        self.say(f"second delivery answered {again.status}: {again.response}")
        answer = json.loads(again.response or "{}")
        runs = self.scalar("SELECT runs FROM jobs WHERE message_id = %s", message_id)
        if again.status != 200 or answer.get("status") != "duplicate" or runs != 1:
            raise TourError(f"the duplicate was not ignored: {again.status} {again.response}, job runs={runs}")
        self.summary.append(f"duplicate of {message_id} ignored (answered 200 duplicate; the job ran once)")

    def report(self, steps: list[tuple[str, ModuleType]]) -> None:
        self.step("what happened")
        tables = [
            row[0]
            for row in self.conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
                " ORDER BY tablename"
            )
        ]
        counts = {t: self.scalar(f'SELECT count(*) FROM "{t}"') for t in tables}
        self.say("rows written: " + ", ".join(f"{t} {n}" for t, n in counts.items() if n))
        for line in self.summary:
            self.say(line)
        for _, module in steps:
            for line in module.check(self):
                self.say(line)
        usage = self.conn.execute(
            "SELECT worker, model, count(*), sum(prompt_tokens), sum(completion_tokens) FROM ai_usage"
            " GROUP BY worker, model ORDER BY worker"
        ).fetchall()
        for worker, model, calls, prompt, completion in usage:
            self.say(f"token usage recorded: {worker} {model}: {calls} call(s), {prompt} + {completion} tokens")
        if any(w.get("model") for w in self.workers.values()) and not usage:
            raise TourError("no token usage was recorded")
        failed = self.scalar("SELECT count(*) FROM failed_messages")
        if failed:
            raise TourError(f"{failed} message(s) reached the failure callback")
        messages, attempts = len(self.qstash.messages), len(self.qstash.attempts)
        self.say(f"qstash stand-in: {messages} message(s), {attempts} delivery attempt(s)")
