"""The QStash stand-in against the real SDK: `QStash(base_url=...)` publishes to it, it delivers signed
messages that the real `Receiver` accepts, retries with QStash's backoff, stops on 489 +
Upstash-NonRetryable-Error, calls the failure callback once a message gives up, keeps at most
`parallelism` deliveries in flight per flow-control key, and takes batch publishes, dropping repeated
deduplication ids."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from qstash import QStash, Receiver
from qstash.errors import QStashError, SignatureError
from qstash.message import BatchJsonRequest, BatchResponse, FlowControl, PublishResponse

from devstack.http_standin import JsonHandler, LoopbackServer
from devstack.qstash_server import QStashStandIn, backoff_seconds

TOKEN = "standin-test-token"
CURRENT = "sig_standin_current_0123456789"
NEXT = "sig_standin_next_9876543210"
SCALE = 0.002


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Destination:
    """A loopback endpoint answering with scripted statuses per path (200 once the script runs out), after
    `slow[path]` seconds; it counts the requests it is answering at once (`peak` is the most seen)."""

    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: int = 0
    peak: int = 0

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


class _DestinationServer(LoopbackServer):
    def __init__(self, destination: Destination) -> None:
        super().__init__(_DestinationHandler)
        self.destination = destination


class _DestinationHandler(JsonHandler):
    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self.read_body()
        destination: Destination = self.server.standin.destination  # type: ignore[attr-defined]
        with destination.lock:
            destination.received.append(Received(self.path, dict(self.headers.items()), body))
            script = destination.scripts.get(self.path, [])
            status, headers = script.pop(0) if script else (200, {})
            destination.active += 1
            destination.peak = max(destination.peak, destination.active)
        time.sleep(destination.slow.get(self.path, 0.0))
        with destination.lock:
            destination.active -= 1
        data = json.dumps({"status": status}).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def destination() -> Iterator[tuple[Destination, str]]:
    target = Destination()
    server = _DestinationServer(target).start()
    try:
        yield target, server.url
    finally:
        server.stop()


@pytest.fixture
def standin() -> Iterator[QStashStandIn]:
    server = QStashStandIn(TOKEN, signing_key=CURRENT, backoff_scale=SCALE).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(standin: QStashStandIn) -> QStash:
    return QStash(TOKEN, retry=False, base_url=standin.url)


def one(published: object) -> PublishResponse:
    assert isinstance(published, PublishResponse)
    return published


def verify(received: Received, url: str) -> None:
    Receiver(current_signing_key=CURRENT, next_signing_key=NEXT).verify(
        signature=received.headers["Upstash-Signature"], body=received.body.decode(), url=url
    )


def test_backoff_is_qstash_default() -> None:
    assert [round(backoff_seconds(n)) for n in (1, 2, 3, 4)] == [12, 148, 1808, 22026]
    assert backoff_seconds(5) == 86400
    assert backoff_seconds(1, scale=0.001) == pytest.approx(0.01218, rel=1e-3)


def test_sdk_publish_is_delivered_signed_and_the_receiver_accepts_it(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    url = f"{base}/jobs/one"
    published = one(client.message.publish_json(url=url, body={"video_key": "a.mp4"}, retries=2))
    message = standin.wait_for(published.message_id, timeout=10)
    assert message.state == "delivered"
    [received] = target.on("/jobs/one")
    assert json.loads(received.body) == {"video_key": "a.mp4"}
    assert received.headers["Upstash-Message-Id"] == published.message_id
    assert received.headers["Upstash-Retried"] == "0"
    assert received.headers["Content-Type"] == "application/json"
    verify(received, url)
    with pytest.raises((SignatureError, KeyError)):
        verify(received, f"{base}/jobs/other")  # sub is bound to the destination URL


def test_retries_on_5xx_with_backoff_then_failure_callback(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    target.scripts["/jobs/flaky"] = [(500, {})] * 3
    callback_url = f"{base}/workers/failed"
    published = one(
        client.message.publish_json(url=f"{base}/jobs/flaky", body={"n": 1}, retries=2, failure_callback=callback_url)
    )
    standin.wait_idle(timeout=10)
    attempts = target.on("/jobs/flaky")
    assert [a.headers["Upstash-Retried"] for a in attempts] == ["0", "1", "2"]
    assert {a.headers["Upstash-Message-Id"] for a in attempts} == {published.message_id}
    times = [a.at for a in standin.messages[published.message_id].attempts]
    for n, (earlier, later) in enumerate(itertools.pairwise(times), start=1):
        assert later - earlier >= backoff_seconds(n, SCALE) * 0.9
    assert standin.messages[published.message_id].state == "failed"
    [callback] = target.on("/workers/failed")
    verify(callback, callback_url)
    body = json.loads(callback.body)
    assert body["sourceMessageId"] == published.message_id
    assert body["retried"] == 2
    assert body["maxRetries"] == 2
    assert body["status"] == 500
    assert json.loads(base64.b64decode(body["sourceBody"])) == {"n": 1}


def test_409_is_retried_until_it_succeeds(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    target.scripts["/jobs/busy"] = [(409, {"Retry-After": "15"})]
    published = one(client.message.publish_json(url=f"{base}/jobs/busy", body={}, retries=3))
    assert standin.wait_for(published.message_id, timeout=10).state == "delivered"
    assert [a.headers["Upstash-Retried"] for a in target.on("/jobs/busy")] == ["0", "1"]


def test_489_non_retryable_stops_at_once_and_calls_back(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    target.scripts["/jobs/bad"] = [(489, {"Upstash-NonRetryable-Error": "true"})]
    target.scripts["/jobs/plain489"] = [(489, {})]
    bad = one(
        client.message.publish_json(
            url=f"{base}/jobs/bad", body={}, retries=3, failure_callback=f"{base}/workers/failed"
        )
    )
    plain = one(client.message.publish_json(url=f"{base}/jobs/plain489", body={}, retries=3))
    standin.wait_idle(timeout=10)
    assert len(target.on("/jobs/bad")) == 1
    assert standin.messages[bad.message_id].state == "failed"
    assert [json.loads(c.body)["sourceMessageId"] for c in target.on("/workers/failed")] == [bad.message_id]
    # Without the header 489 is an ordinary failure: retried.
    assert standin.messages[plain.message_id].state == "delivered"
    assert len(target.on("/jobs/plain489")) == 2


def test_deduplication_id_and_duplicate_delivery(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    first = one(client.message.publish_json(url=f"{base}/jobs/d", body={}, deduplication_id="same"))
    second = one(client.message.publish_json(url=f"{base}/jobs/d", body={}, deduplication_id="same"))
    assert first.message_id == second.message_id
    standin.wait_idle(timeout=10)
    again = standin.deliver_again(first.message_id)
    assert again.status == 200
    received = target.on("/jobs/d")
    assert len(received) == 2
    assert {r.headers["Upstash-Message-Id"] for r in received} == {first.message_id}
    verify(received[1], f"{base}/jobs/d")


def test_schedules_from_the_sdk_fire_signed_ticks(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    client.schedule.create(destination=f"{base}/jobs/cron", cron="*/15 * * * *", schedule_id="demo-cron", retries=1)
    [schedule] = client.schedule.list()
    assert (schedule.schedule_id, schedule.cron, schedule.retries) == ("demo-cron", "*/15 * * * *", 1)
    message_id = standin.trigger_schedule("demo-cron")
    assert standin.wait_for(message_id, timeout=10).state == "delivered"
    [tick] = target.on("/jobs/cron")
    assert tick.headers["Upstash-Schedule-Id"] == "demo-cron"
    verify(tick, f"{base}/jobs/cron")


def test_remote_destinations_are_never_contacted(standin: QStashStandIn, client: QStash) -> None:
    published = one(client.message.publish_json(url="https://workers.example.test/jobs", body={}, retries=0))
    message = standin.wait_for(published.message_id, timeout=10)
    assert message.state == "failed"
    assert message.attempts[0].status is None
    assert "loopback" in message.attempts[0].response


def test_without_a_signing_key_it_only_records(destination: tuple[Destination, str]) -> None:
    target, base = destination
    recorder = QStashStandIn(TOKEN).start()
    try:
        QStash(TOKEN, retry=False, base_url=recorder.url).message.publish_json(url=f"{base}/jobs/x", body={})
        assert len(recorder.published) == 1
        assert not recorder.messages
    finally:
        recorder.stop()
    assert target.on("/jobs/x") == []


PARALLELISM = 2
SLOW_SECONDS = 0.3


def _publish_burst(client: QStash, url: str, count: int, flow_control: FlowControl | None) -> list[str]:
    return [
        one(client.message.publish_json(url=url, body={"n": n}, retries=0, flow_control=flow_control)).message_id
        for n in range(count)
    ]


def test_flow_control_parallelism_bounds_deliveries_in_flight(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    target.slow["/jobs/slow"] = SLOW_SECONDS
    count = 3 * PARALLELISM
    ids = _publish_burst(client, f"{base}/jobs/slow", count, {"key": "demo-workers", "parallelism": PARALLELISM})
    assert standin.published[0].headers["Upstash-Flow-Control-Key"] == "demo-workers"
    assert standin.published[0].headers["Upstash-Flow-Control-Value"] == f"parallelism={PARALLELISM}"
    standin.wait_idle(timeout=30)
    assert all(standin.messages[i].state == "delivered" for i in ids)
    assert len(target.on("/jobs/slow")) == count
    # Never more than the limit at once, and the limit is used (not one at a time).
    assert target.peak == PARALLELISM


def test_without_flow_control_the_burst_is_not_held_back(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    target.slow["/jobs/slow"] = SLOW_SECONDS
    _publish_burst(client, f"{base}/jobs/slow", 3 * PARALLELISM, None)
    standin.wait_idle(timeout=30)
    assert target.peak > PARALLELISM


def test_schedule_flow_control_is_recorded_and_its_ticks_obey_it(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    target.slow["/jobs/tick"] = SLOW_SECONDS
    client.schedule.create(
        destination=f"{base}/jobs/tick",
        cron="* * * * *",
        schedule_id="demo-tick",
        flow_control={"key": "demo-workers", "parallelism": 1},
    )
    control = client.schedule.get("demo-tick").flow_control
    assert control is not None
    assert (control.key, control.parallelism) == ("demo-workers", 1)
    ids = [standin.trigger_schedule("demo-tick") for _ in range(3)]
    standin.wait_idle(timeout=30)
    assert [standin.messages[i].state for i in ids] == ["delivered"] * 3
    assert target.peak == 1


def test_sdk_batch_publish_delivers_each_message_and_drops_repeated_deduplication_ids(
    standin: QStashStandIn, client: QStash, destination: tuple[Destination, str]
) -> None:
    target, base = destination
    control: FlowControl = {"key": "batch-key", "parallelism": 2}
    batch: list[BatchJsonRequest] = [
        {"url": f"{base}/chunks", "body": {"n": n}, "deduplication_id": f"tick-{n}", "flow_control": control}
        for n in range(3)
    ]
    first = client.message.batch_json(batch)
    assert [isinstance(answer, BatchResponse) and not answer.deduplicated for answer in first] == [True] * 3
    again = client.message.batch_json([*batch[1:], {"url": f"{base}/chunks", "body": {"n": 3}}])
    assert [answer.deduplicated for answer in again if isinstance(answer, BatchResponse)] == [True, True, False]
    assert [a.message_id for a in again[:2] if isinstance(a, BatchResponse)] == [
        a.message_id for a in first[1:] if isinstance(a, BatchResponse)
    ]
    single = client.message.publish_json(url=f"{base}/chunks", body={"n": 0}, deduplication_id="tick-0")
    assert one(single).deduplicated
    standin.wait_idle(timeout=10)
    assert sorted(json.loads(r.body)["n"] for r in target.on("/chunks")) == [0, 1, 2, 3]  # each once
    assert standin.published[0].headers["Upstash-Flow-Control-Key"] == "batch-key"
    for received in target.on("/chunks"):
        verify(received, f"{base}/chunks")


def test_refused_publishes_fail_in_the_sdk_and_later_ones_pass(standin: QStashStandIn, client: QStash) -> None:
    standin.refuse_publishes(after=1, count=1, status=503)
    url = "http://127.0.0.1:9/unused"
    client.message.batch_json([{"url": url, "body": {}}])
    with pytest.raises(QStashError, match="503"):
        client.message.batch_json([{"url": url, "body": {}}])
    one(client.message.publish_json(url=url, body={}))
    assert len(standin.published) == 2
