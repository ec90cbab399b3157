"""Loopback stand-in for QStash: enough of `/v2/publish` and `/v2/schedules` for the real `qstash` SDK
(pointed here through `base_url`) to publish messages and manage schedules (what
`scripts/sync_schedules.py` uses: create or overwrite by id, list, get, delete) and read the account's
signing keys (`GET /v2/keys`, what the deploy's preflight asks), and, when it is given a signing key,
a delivery loop that behaves like QStash towards the destination:

- each delivery is a POST (or `Upstash-Method`) of the raw body with `Upstash-Signature` (signed by
  `devstack.qstash_signer`, sub = destination URL), `Upstash-Message-Id`, `Upstash-Retried` and the
  `Upstash-Forward-*` headers of the publish, unprefixed;
- 2xx is done; 489 with `Upstash-NonRetryable-Error: true` gives up at once (dead letter); any other
  answer, a refused connection or a timeout is retried up to `Upstash-Retries` (default 3) times after
  min(86400, e^(2.5 n)) seconds for the n-th retry (12 s, 2 min 28 s, 30 min, 6 h), multiplied by
  `backoff_scale` so tests and demos do not wait minutes;
- once a message gives up, its `Upstash-Failure-Callback` URL gets QStash's failure-callback body
  (itself a signed message with the same retry rules).

Without a signing key it only records publishes (the unit tests' mode). It delivers to loopback hosts
only: a remote destination is an immediate failed attempt, so nothing ever leaves the machine.
Publishing (`/v2/publish/<url>`, and `/v2/batch`: a JSON array of {destination, headers, body}, one answer
per message, what the SDK's `message.batch_json` sends) honours `Upstash-Deduplication-Id` the way QStash
does: a repeated id is accepted but not enqueued, and answered with the first message's id (`202 Accepted`
for a single publish) and `deduplicated: true` ("Deduplication",
https://upstash.com/docs/qstash/features/deduplication, read 2026-11-25). `refuse_publishes` makes later
publish requests fail (a QStash outage mid-fan-out, for tests). Flow control (`Upstash-Flow-Control-Key` and
`Upstash-Flow-Control-Value`, on publishes and on schedules, whose ticks inherit it) is recorded, and its
`parallelism` is honoured: at most that many delivery attempts in flight per key, the rest wait for a free
slot ("Flow Control", https://upstash.com/docs/qstash/features/flowcontrol, read 2026-11-25); `rate` and
`period` are recorded, not enforced. A development stand-in, not QStash: no topics, queues or DLQ API.

Events (`GET /v2/events`, what `make spend` counts messages with): every accepted publish and schedule tick is a
CREATED event, a delivery a DELIVERED one, a message given up a FAILED one. As QStash answers them: newest first,
filtered by `state`, `messageId`, `fromDate` and `toDate` (Unix milliseconds, inclusive), `count` a page (at
most 1000, the default), and a `cursor` for the next page, absent on the last ("Events", Upstash QStash Python
SDK examples, https://upstash.com/docs/qstash/sdks/py/examples/events, read 2026-11-25, and the request and
answer of the `qstash` SDK's `log.list`). `record_event` adds one at a chosen time (a month of traffic, in tests).
"""

from __future__ import annotations

import base64
import collections
import heapq
import itertools
import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from devstack.http_standin import JsonHandler, LoopbackServer
from devstack.qstash_signer import sign

DEFAULT_RETRIES = 3
MAX_BACKOFF_SECONDS = 86400
NON_RETRYABLE_STATUS = 489
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Not a QStash API: the stand-in's own view of one message (state and attempts), for `devstack.send`.
MESSAGE_STATUS_PATH = "/devstack/messages/"
EVENTS_PATH = "/v2/events"
EVENTS_PAGE_MAX = 1000


def backoff_seconds(retry: int, scale: float = 1.0) -> float:
    """QStash's default backoff before the `retry`-th retry (1-based): min(86400, e^(2.5 n)) seconds."""
    return min(MAX_BACKOFF_SECONDS, math.exp(2.5 * retry)) * scale


@dataclass(frozen=True)
class FlowControl:
    """A message's flow control, as its headers set it (QStash applies the limits per key)."""

    key: str
    parallelism: int | None = None
    rate: int | None = None
    period: str | None = None


@dataclass
class PublishedMessage:
    message_id: str
    destination: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Event:
    """One entry of QStash's event log (what GET /v2/events lists)."""

    sequence: int
    time_ms: int
    message_id: str
    state: str
    url: str
    schedule_id: str | None = None

    @property
    def order(self) -> tuple[int, int]:
        return (self.time_ms, self.sequence)

    def to_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "time": self.time_ms,
            "messageId": self.message_id,
            "state": self.state,
            "url": self.url,
        }
        if self.schedule_id:
            answer["scheduleId"] = self.schedule_id
        return answer


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt and the destination's answer (`status` None: no HTTP answer at all)."""

    message_id: str
    url: str
    retried: int
    status: int | None
    response: str
    at: float
    non_retryable: bool = False


@dataclass
class Message:
    """A message the stand-in delivers: its retry budget, its attempts so far and where it ended."""

    message_id: str
    url: str
    body: bytes
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    max_retries: int = DEFAULT_RETRIES
    failure_callback: str | None = None
    schedule_id: str | None = None
    timeout_seconds: float = 30.0
    flow_control: FlowControl | None = None
    retried: int = 0
    state: str = "pending"  # pending | delivered | failed
    attempts: list[Attempt] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    @property
    def settled(self) -> bool:
        return self.state != "pending"


class QStashStandIn(LoopbackServer):
    def __init__(
        self,
        token: str,
        *,
        signing_key: str | None = None,
        keys: tuple[str, str] | None = None,
        backoff_scale: float = 1.0,
        delivery_workers: int = 8,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        super().__init__(_Handler)
        self.token = token
        self.signing_key = signing_key
        # The account's (current, next) signing keys, as GET /v2/keys answers them (the SDK's
        # `signing_key.get()`); the deploy's preflight compares them with the configured ones.
        self.keys = keys or (signing_key or "", "")
        self.backoff_scale = backoff_scale
        self.on_attempt = on_attempt
        self.published: list[PublishedMessage] = []
        self.schedules: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, Message] = {}
        self.attempts: list[Attempt] = []
        self.dead_letters: list[Message] = []
        self.events: list[Event] = []
        self._dedupe: dict[str, str] = {}
        # (publish requests still accepted, then how many to refuse, with which status)
        self._refusal: tuple[int, int, int] | None = None
        self._clock = 0
        self.lock = threading.Lock()
        self._changed = threading.Condition(self.lock)
        self._queue: list[tuple[float, int, str]] = []
        # Flow control: attempts in flight per key, and the due messages waiting for a slot (oldest first).
        self._in_flight: collections.Counter[str] = collections.Counter()
        self._waiting: dict[str, collections.deque[str]] = collections.defaultdict(collections.deque)
        self._sequence = itertools.count()
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=delivery_workers, thread_name_prefix="qstash-delivery")
        self._http = httpx.Client(follow_redirects=False)
        self._dispatcher = threading.Thread(target=self._dispatch, name="qstash-dispatcher", daemon=True)

    @property
    def delivers(self) -> bool:
        return self.signing_key is not None

    def start(self) -> QStashStandIn:
        super().start()
        if self.delivers:
            self._dispatcher.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        super().stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._dispatcher.is_alive():
            self._dispatcher.join(5)
        self._http.close()

    def reset(self) -> None:
        with self.lock:
            self.published.clear()
            self.schedules.clear()
            self._dedupe.clear()
            self.messages.clear()
            self.attempts.clear()
            self.dead_letters.clear()
            self.events.clear()
            self._queue.clear()
            self._in_flight.clear()
            self._waiting.clear()
            self._refusal = None

    def refuse_publishes(self, *, after: int = 0, count: int = 1, status: int = 500) -> None:
        """Accept `after` more publish requests (a batch is one), then answer the next `count` with `status`."""
        with self.lock:
            self._refusal = (after, count, status)

    def _refused(self) -> int | None:
        """Called with the lock held by each publish request: the status to refuse it with, if any."""
        if self._refusal is None:
            return None
        after, count, status = self._refusal
        if after > 0:
            self._refusal = (after - 1, count, status)
            return None
        self._refusal = (0, count - 1, status) if count > 1 else None
        return status

    def accept(self, destination: str, headers: Any, body: bytes) -> dict[str, Any]:
        """One published message (single or in a batch): deduplicated, recorded, queued for delivery."""
        dedupe_id = headers.get("Upstash-Deduplication-Id")
        with self.lock:
            if dedupe_id and dedupe_id in self._dedupe:
                return {"messageId": self._dedupe[dedupe_id], "deduplicated": True}
            message_id = _new_message_id()
            if dedupe_id:
                self._dedupe[dedupe_id] = message_id
            self.published.append(
                PublishedMessage(
                    message_id=message_id,
                    destination=destination,
                    body=body,
                    headers=_upstash_headers(headers, "upstash-"),
                )
            )
            self._record(message_id, destination, "CREATED")
        if self.delivers:
            self.enqueue(
                Message(
                    message_id=message_id,
                    url=destination,
                    body=body,
                    method=headers.get("Upstash-Method") or "POST",
                    headers=_forwarded(headers),
                    max_retries=int(headers.get("Upstash-Retries") or DEFAULT_RETRIES),
                    failure_callback=headers.get("Upstash-Failure-Callback"),
                    timeout_seconds=_duration(headers.get("Upstash-Timeout")) or 30.0,
                    flow_control=_flow_control(headers),
                ),
                delay_seconds=_duration(headers.get("Upstash-Delay")) or 0.0,
            )
        return {"messageId": message_id}

    def record_event(
        self, message_id: str, url: str, state: str, *, at_ms: int | None = None, schedule_id: str | None = None
    ) -> Event:
        """Adds an event to the log (at `at_ms`, default now): traffic a test needs without sending it."""
        with self.lock:
            return self._record(message_id, url, state, at_ms=at_ms, schedule_id=schedule_id)

    def _record(
        self, message_id: str, url: str, state: str, *, at_ms: int | None = None, schedule_id: str | None = None
    ) -> Event:
        """Called with the lock held."""
        event = Event(
            sequence=len(self.events),
            time_ms=at_ms if at_ms is not None else int(time.time() * 1000),
            message_id=message_id,
            state=state,
            url=url,
            schedule_id=schedule_id,
        )
        self.events.append(event)
        return event

    def list_events(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """GET /v2/events: (status, answer) for these query parameters."""
        try:
            count = int(query.get("count") or EVENTS_PAGE_MAX)
            since = int(query["fromDate"]) if query.get("fromDate") else None
            until = int(query["toDate"]) if query.get("toDate") else None
            after = tuple(int(part) for part in query["cursor"].split("-")) if query.get("cursor") else None
        except ValueError:
            return 400, {"error": "count, fromDate and toDate are integers; cursor is the one a page returned"}
        if not 0 < count <= EVENTS_PAGE_MAX:
            return 400, {"error": f"count must be between 1 and {EVENTS_PAGE_MAX}"}
        with self.lock:
            matching = sorted(
                (
                    e
                    for e in self.events
                    if (not query.get("state") or e.state == query["state"])
                    and (not query.get("messageId") or e.message_id == query["messageId"])
                    and (since is None or e.time_ms >= since)
                    and (until is None or e.time_ms <= until)
                    and (after is None or e.order < after)
                ),
                key=lambda e: e.order,
                reverse=True,
            )
        page = matching[:count]
        answer: dict[str, Any] = {"events": [e.to_json() for e in page]}
        if len(matching) > count:
            answer["cursor"] = f"{page[-1].time_ms}-{page[-1].sequence}"
        return 200, answer

    def tick(self) -> int:
        self._clock += 1
        return self._clock

    # -- delivery -------------------------------------------------------------------------------------

    def enqueue(self, message: Message, delay_seconds: float = 0.0) -> str:
        """Accepts a message for delivery (what a publish or a schedule tick does)."""
        with self._changed:
            self.messages[message.message_id] = message
            self._schedule(message.message_id, delay_seconds)
        return message.message_id

    def trigger_schedule(self, schedule_id: str) -> str:
        """One tick of a schedule now, as QStash's cron would fire it; returns the new message id."""
        message_id = _new_message_id()
        with self.lock:
            schedule = dict(self.schedules[schedule_id])
            self._record(message_id, str(schedule["destination"]), "CREATED", schedule_id=schedule_id)
        body = schedule.get("body") or ""
        return self.enqueue(
            Message(
                message_id=message_id,
                url=str(schedule["destination"]),
                body=body.encode(),
                method=str(schedule.get("method") or "POST"),
                headers=dict(schedule.get("forwardHeaders") or {}),
                max_retries=int(schedule.get("retries", DEFAULT_RETRIES)),
                failure_callback=schedule.get("failureCallback"),
                schedule_id=schedule_id,
                timeout_seconds=float(schedule.get("timeout") or 30),
                flow_control=_schedule_flow_control(schedule),
            )
        )

    def deliver_again(self, message_id: str) -> Attempt:
        """Sends a settled message once more with the same id: QStash's at-least-once duplicate (a test's
        deliberate extra attempt, outside flow control)."""
        with self.lock:
            message = self.messages[message_id]
        return self._attempt(message, message.retried)

    def wait_for(self, message_id: str, timeout: float = 30.0) -> Message:
        """Blocks until the message is delivered or given up on."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                message = self.messages.get(message_id)
                if message is not None and message.settled:
                    return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"message {message_id} not settled after {timeout} s")
                self._changed.wait(remaining)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Blocks until every accepted message (failure callbacks included) is settled."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while any(not m.settled for m in self.messages.values()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"messages still pending after {timeout} s")
                self._changed.wait(remaining)

    def _schedule(self, message_id: str, delay_seconds: float) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay_seconds, next(self._sequence), message_id))
        self._changed.notify_all()

    def _dispatch(self) -> None:
        with self._changed:
            while not self._stopping:
                if not self._queue:
                    self._changed.wait()
                    continue
                due, _, message_id = self._queue[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                heapq.heappop(self._queue)
                message = self.messages.get(message_id)
                if message is None:
                    continue
                if message.flow_control is not None and not self._take_slot(message.flow_control):
                    self._waiting[message.flow_control.key].append(message_id)
                    continue
                try:
                    self._pool.submit(self._run, message)
                except RuntimeError:  # pool shut down while stopping
                    return

    def _take_slot(self, control: FlowControl) -> bool:
        """Called with the lock held: whether a message under this flow control may be attempted now."""
        if control.parallelism is None:
            return True
        if self._in_flight[control.key] >= control.parallelism:
            return False
        self._in_flight[control.key] += 1
        return True

    def _release_slot(self, message: Message) -> None:
        """Called with the lock held once an attempt has its answer: the oldest waiting message goes next."""
        control = message.flow_control
        if control is None or control.parallelism is None:
            return
        # max(): a reset() while an attempt was out has already cleared its slot.
        self._in_flight[control.key] = max(0, self._in_flight[control.key] - 1)
        waiting = self._waiting.get(control.key)
        if waiting:
            self._schedule(waiting.popleft(), 0.0)

    def _run(self, message: Message) -> None:
        attempt = self._attempt(message, message.retried)
        with self._changed:
            self._release_slot(message)
            if _succeeded(attempt):
                message.state = "delivered"
                self._record(message.message_id, message.url, "DELIVERED", schedule_id=message.schedule_id)
            elif attempt.non_retryable:
                self._give_up(message, attempt)
            elif message.retried < message.max_retries:
                message.retried += 1
                self._schedule(message.message_id, backoff_seconds(message.retried, self.backoff_scale))
            else:
                self._give_up(message, attempt)
            self._changed.notify_all()

    def _give_up(self, message: Message, last: Attempt) -> None:
        """Called with the lock held: dead-letters the message and queues its failure callback."""
        message.state = "failed"
        self.dead_letters.append(message)
        self._record(message.message_id, message.url, "FAILED", schedule_id=message.schedule_id)
        if not message.failure_callback:
            return
        callback = Message(
            message_id=_new_message_id(),
            url=message.failure_callback,
            body=_json_bytes(failure_callback_body(message, last)),
            headers={"Content-Type": "application/json"},
            max_retries=message.max_retries,
        )
        self.messages[callback.message_id] = callback
        self._schedule(callback.message_id, 0.0)

    def _attempt(self, message: Message, retried: int) -> Attempt:
        assert self.signing_key is not None, "delivery needs a signing key"
        headers = {
            **message.headers,
            "Upstash-Signature": sign(message.body, message.url, self.signing_key),
            "Upstash-Message-Id": message.message_id,
            "Upstash-Retried": str(retried),
        }
        if message.schedule_id:
            headers["Upstash-Schedule-Id"] = message.schedule_id
        status: int | None
        non_retryable = False
        host = urlsplit(message.url).hostname or ""
        if host not in LOOPBACK_HOSTS:
            status, text = None, f"not delivered: the stand-in delivers to loopback hosts only, not {host!r}"
        else:
            try:
                response = self._http.request(
                    message.method,
                    message.url,
                    content=message.body,
                    headers=headers,
                    timeout=message.timeout_seconds,
                )
                status, text = response.status_code, response.text[:2000]
                non_retryable = (
                    status == NON_RETRYABLE_STATUS and response.headers.get("upstash-nonretryable-error") == "true"
                )
            except httpx.HTTPError as exc:
                status, text = None, f"{type(exc).__name__}: {exc}"
        attempt = Attempt(message.message_id, message.url, retried, status, text, time.time(), non_retryable)
        with self.lock:
            message.attempts.append(attempt)
            self.attempts.append(attempt)
        if self.on_attempt is not None:
            self.on_attempt(attempt)
        return attempt


def _succeeded(attempt: Attempt) -> bool:
    return attempt.status is not None and 200 <= attempt.status < 300


def _new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def failure_callback_body(message: Message, last: Attempt) -> dict[str, Any]:
    """The body QStash posts to the failure-callback URL; `body` and `sourceBody` are base64."""
    return {
        "status": last.status or 0,
        "header": {},
        "body": base64.b64encode(last.response.encode()).decode(),
        "retried": message.retried,
        "maxRetries": message.max_retries,
        "dlqId": f"{int(message.created_at * 1000)}-0",
        "sourceMessageId": message.message_id,
        "topicName": "",
        "endpointName": "",
        "url": message.url,
        "method": message.method,
        "sourceHeader": {k: [v] for k, v in message.headers.items()},
        "sourceBody": base64.b64encode(message.body).decode(),
        "notBefore": str(int(message.created_at)),
        "createdAt": str(int(message.created_at)),
        "scheduleId": message.schedule_id or "",
        "callerIP": "127.0.0.1",
    }


class _Headers:
    """A batch item's headers, looked up regardless of case as HTTP headers are, listed as they were sent."""

    def __init__(self, headers: dict[str, Any]) -> None:
        self._items = {str(name): str(value) for name, value in headers.items()}
        self._lower = {name.lower(): value for name, value in self._items.items()}

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._lower.get(name.lower(), default)

    def items(self) -> Any:
        return self._items.items()


def _upstash_headers(headers: Any, prefix: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith(prefix)}


def _forwarded(headers: Any) -> dict[str, str]:
    """What the destination receives besides QStash's own headers: the content type and Forward-* ones."""
    out = {"Content-Type": headers.get("Content-Type") or "application/json"}
    prefix = "upstash-forward-"
    for name, value in headers.items():
        if name.lower().startswith(prefix):
            out[name[len(prefix) :]] = value
    return out


def _duration(value: str | None) -> float | None:
    """`10s`, `5m`, `2h`, `1d` or plain seconds, as Upstash-Delay and Upstash-Timeout take them."""
    if not value:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = value.strip()
    if value[-1] in units:
        return float(value[:-1]) * units[value[-1]]
    return float(value)


class _Handler(JsonHandler):
    @property
    def standin(self) -> QStashStandIn:
        return self.server.standin  # type: ignore[attr-defined,no-any-return]

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.standin.token}":
            return True
        self.send_json(401, {"error": "unauthorized"})
        return False

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self.read_body()
        if not self._authorised():
            return
        if self.path.startswith("/v2/publish/") or self.path == "/v2/batch":
            with self.standin.lock:
                refused = self.standin._refused()
            if refused is not None:
                self.send_json(refused, {"error": "refused by the stand-in (refuse_publishes)"})
            elif self.path == "/v2/batch":
                self._batch(body)
            else:
                answer = self.standin.accept(unquote(self.path.removeprefix("/v2/publish/")), self.headers, body)
                self.send_json(202 if answer.get("deduplicated") else 201, answer)
        elif self.path.startswith("/v2/schedules/"):
            self._create_schedule(unquote(self.path.removeprefix("/v2/schedules/")), body)
        else:
            self.send_json(404, {"error": "not found"})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if not self._authorised():
            return
        standin = self.standin
        if self.path.startswith(MESSAGE_STATUS_PATH):
            self._message_status(self.path.removeprefix(MESSAGE_STATUS_PATH))
            return
        if urlsplit(self.path).path == EVENTS_PATH:
            query = {name: values[-1] for name, values in parse_qs(urlsplit(self.path).query).items()}
            self.send_json(*standin.list_events(query))
            return
        if self.path == "/v2/keys":
            current, following = standin.keys
            self.send_json(200, {"current": current, "next": following})
            return
        with standin.lock:
            if self.path == "/v2/schedules":
                self.send_json(200, list(standin.schedules.values()))
                return
            schedule_id = self.path.removeprefix("/v2/schedules/")
            if schedule_id in standin.schedules:
                self.send_json(200, standin.schedules[schedule_id])
                return
        self.send_json(404, {"error": "schedule not found"})

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib naming
        if not self._authorised():
            return
        schedule_id = self.path.removeprefix("/v2/schedules/")
        with self.standin.lock:
            self.standin.schedules.pop(schedule_id, None)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _batch(self, body: bytes) -> None:
        try:
            items = json.loads(body)
            messages = [
                (str(item["destination"]), _Headers(item.get("headers") or {}), str(item.get("body") or "").encode())
                for item in items
            ]
        except (ValueError, TypeError, KeyError):
            self.send_json(400, {"error": "a batch is a JSON array of {destination, headers, body}"})
            return
        self.send_json(
            200, [self.standin.accept(destination, headers, data) for destination, headers, data in messages]
        )

    def _message_status(self, message_id: str) -> None:
        with self.standin.lock:
            message = self.standin.messages.get(message_id)
            if message is None:
                self.send_json(404, {"error": "message not found"})
                return
            self.send_json(
                200,
                {
                    "messageId": message.message_id,
                    "url": message.url,
                    "state": message.state,
                    "retried": message.retried,
                    "maxRetries": message.max_retries,
                    "attempts": [
                        {"retried": a.retried, "status": a.status, "response": a.response[:500]}
                        for a in message.attempts
                    ],
                },
            )

    def _create_schedule(self, destination: str, body: bytes) -> None:
        standin = self.standin
        headers = self.headers
        with standin.lock:
            schedule_id = headers.get("Upstash-Schedule-Id") or f"scd_{uuid.uuid4().hex}"
            standin.schedules[schedule_id] = {
                "scheduleId": schedule_id,
                "destination": destination,
                "cron": headers.get("Upstash-Cron", ""),
                "createdAt": standin.tick(),
                "method": headers.get("Upstash-Method", "POST"),
                "retries": int(headers.get("Upstash-Retries", str(DEFAULT_RETRIES))),
                "timeout": _seconds(headers.get("Upstash-Timeout")),
                "failureCallback": headers.get("Upstash-Failure-Callback"),
                "body": body.decode() if body else None,
                "isPaused": False,
                "forwardHeaders": _forwarded(headers),
                **_flow_control_fields(_flow_control(headers)),
            }
        self.send_json(200, {"scheduleId": schedule_id})


def _seconds(value: str | None) -> int | None:
    return int(value.rstrip("s")) if value else None


def _flow_control(headers: Any) -> FlowControl | None:
    """`Upstash-Flow-Control-Key` and `Upstash-Flow-Control-Value: parallelism=2, rate=10, period=1m`."""
    key = headers.get("Upstash-Flow-Control-Key")
    if not key:
        return None
    values: dict[str, str] = {}
    for part in (headers.get("Upstash-Flow-Control-Value") or "").split(","):
        name, _, value = part.strip().partition("=")
        if value:
            values[name.strip()] = value.strip()
    return FlowControl(
        key=key,
        parallelism=int(values["parallelism"]) if "parallelism" in values else None,
        rate=int(values["rate"]) if "rate" in values else None,
        period=values.get("period"),
    )


def _flow_control_fields(control: FlowControl | None) -> dict[str, Any]:
    """How QStash reports a schedule's flow control (what the SDK's `Schedule.flow_control` reads)."""
    if control is None:
        return {}
    fields: dict[str, Any] = {"flowControlKey": control.key}
    if control.parallelism is not None:
        fields["parallelism"] = control.parallelism
    if control.rate is not None:
        fields["rate"] = control.rate
    if control.period is not None:
        fields["period"] = int(_duration(control.period) or 0)
    return fields


def _schedule_flow_control(schedule: dict[str, Any]) -> FlowControl | None:
    key = schedule.get("flowControlKey")
    if not key:
        return None
    period = schedule.get("period")
    return FlowControl(
        key=str(key),
        parallelism=schedule.get("parallelism"),
        rate=schedule.get("rate"),
        period=None if period is None else f"{int(period)}s",
    )
