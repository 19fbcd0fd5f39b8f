"""Delivery of outbox messages: streams in order, a partner paced by one probe, catch-up at once.

The partner is a real HTTP server on loopback that can be stopped (connection refused) and
started again on the same port; the tests call the relay's services as the worker would, and
run what they queue in the order it was queued.
"""

import json
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from search.choices import AidMessageType, AidStatus
from search.models import OutboxMessage, PartnerLink
from search.services import queue
from search.services.aid import desk, outbound, relay
from search.services.timeline import Origin
from tests.helpers import wait_for
from tests.search.dispatch_world import build_world, open_case
from tests.search.federation.conftest import make_partner

# Generous: CI's machine may be busy.
DEADLINE = 120


class FakePartner:
    """A partner's Beacon on loopback: answers 200 (or `status_for`), holds calls if asked,
    and can go down and come back on the same port."""

    def __init__(self, *, hold: bool = False):
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.received: list[dict] = []
        self.status_for: dict[str, int] = {}  # message id -> status to answer
        self.hold = hold
        self.port = 0
        self.server = None
        self.start()

    def start(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append(body)
                outer.arrived.set()
                if outer.hold:
                    outer.release.wait(DEADLINE)
                self.send_response(outer.status_for.get(body["id"], 200))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "applied"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/"

    def down(self):
        self.server.shutdown()
        self.server.server_close()

    def stop(self):
        self.release.set()
        self.down()

    def sequences(self, request_uid) -> list[int]:
        return [b["sequence"] for b in self.received if b["request_id"] == str(request_uid)]


@pytest.fixture
def partners():
    made = []

    def make(code: str, lat: float, *, hold: bool = False):
        server = FakePartner(hold=hold)
        made.append(server)
        partner = make_partner(code, lat).partner
        partner.base_url = server.url
        partner.save()
        return partner, server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def queued(monkeypatch):
    """What the relay queues, kept in order instead of sent to the broker.

    The test's transaction never commits, so what waits for the commit is taken at once.
    """
    sent: list[tuple[str, tuple, float | None]] = []
    monkeypatch.setattr(queue, "transaction", SimpleNamespace(on_commit=lambda fn: fn()))
    monkeypatch.setattr(
        queue,
        "publish",
        lambda name, *args, countdown=None: sent.append((name, args, countdown)) or True,
    )
    return sent


def run_drains(queued) -> None:
    """Run the queued drains as a worker would, in order, until none is left; probes stay."""
    while drains := [item for item in queued if item[0] == queue.DRAIN_STREAM]:
        queued.remove(drains[0])
        relay.stream_drain(request_id=drains[0][1][0])


def _ask(world, partner):
    case = open_case(world)
    return desk.aid_request_send(
        origin=Origin(actor=world.clerk), case=case, partner=partner, reason="r"
    )


def _notes(request, n: int) -> None:
    for i in range(n):
        outbound.outbox_write(request=request, type_=AidMessageType.NOTE, data={"text": f"n{i}"})


def _row_is_unlocked(message_id: int) -> bool:
    """Return whether this connection can lock the row at once (nobody holds it)."""
    from django.db import OperationalError, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM search_outboxmessage WHERE id = %s FOR UPDATE NOWAIT", [message_id]
            )
    except OperationalError:
        return False
    return True


def _sessions_idle_in_transaction() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


# --- Streams --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stream_goes_out_in_order_in_one_drain(partners, queued):
    world = build_world()
    partner, server = partners("PB", 34.65)
    request = _ask(world, partner)
    _notes(request, 5)

    drain = relay.stream_drain(request_id=request.pk)

    assert (drain.sent, drain.stopped) == (6, "drained")
    assert server.sequences(request.uid) == [1, 2, 3, 4, 5, 6]
    assert not OutboxMessage.objects.filter(delivered_at__isnull=True).exists()
    assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {1}
    request.refresh_from_db()
    assert request.status == AidStatus.ACKNOWLEDGED
    link = PartnerLink.objects.get(partner=partner)
    assert link.reachable and link.failures == 0 and link.last_success_at


@pytest.mark.django_db
def test_a_message_waits_for_the_one_before_it(partners, queued):
    world = build_world()
    partner, server = partners("PB", 34.65)
    request = _ask(world, partner)
    _notes(request, 2)
    first = OutboxMessage.objects.get(request=request, seq=1)
    # The head is being sent by another worker: nothing behind it may overtake it.
    OutboxMessage.objects.filter(pk=first.pk).update(
        lease_token=uuid.uuid4(), lease_until=timezone.now() + timedelta(seconds=60)
    )

    assert relay.stream_drain(request_id=request.pk).stopped == "waiting"
    assert server.received == []
    assert relay.streams_due() == []


@pytest.mark.django_db
def test_a_dead_workers_lease_runs_out_and_the_message_is_sent_again(partners, queued):
    world = build_world()
    partner, server = partners("PB", 34.65)
    request = _ask(world, partner)
    message = OutboxMessage.objects.get(request=request)
    # A worker claimed it and died mid-send: its lease is still on the row.
    OutboxMessage.objects.filter(pk=message.pk).update(
        lease_token=uuid.uuid4(), lease_until=timezone.now() + timedelta(seconds=60)
    )

    assert relay.stream_drain(request_id=request.pk).stopped == "waiting"
    assert relay.streams_due() == []
    assert server.received == []

    later = timezone.now() + timedelta(seconds=61)
    assert relay.streams_due(now=later) == [request.pk]
    assert relay.stream_drain(request_id=request.pk, now=later).stopped == "drained"
    message.refresh_from_db()
    assert message.delivered_at and message.lease_token is None
    assert [b["id"] for b in server.received] == [str(message.uid)]


@pytest.mark.django_db
def test_a_worker_that_outlived_its_lease_leaves_the_record_to_the_new_holder(
    partners, monkeypatch, queued
):
    world = build_world()
    partner, _ = partners("PB", 34.65)
    request = _ask(world, partner)
    message = OutboxMessage.objects.get(request=request)
    real_post = relay.client.post_message

    def post_then_lose_the_lease(**kwargs):
        answer = real_post(**kwargs)
        # While we were sending, our lease ran out and another worker claimed the row.
        OutboxMessage.objects.filter(pk=message.pk).update(lease_token=uuid.uuid4())
        return answer

    monkeypatch.setattr(relay.client, "post_message", post_then_lose_the_lease)

    assert relay.stream_drain(request_id=request.pk).stopped == relay.LEASE_LOST
    message.refresh_from_db()
    assert message.delivered_at is None and message.attempts == 0


@pytest.mark.django_db
def test_a_message_the_partner_said_no_to_backs_off_alone(partners, queued):
    """A 500 on one message is that message's trouble: the partner stays up, other streams go."""
    world = build_world()
    partner, server = partners("PB", 34.65)
    troubled = _ask(world, partner)
    other = _ask(world, partner)
    _notes(other, 1)
    head = OutboxMessage.objects.get(request=troubled)
    server.status_for[str(head.uid)] = 500

    assert relay.stream_drain(request_id=troubled.pk).stopped == relay.RETRY
    head.refresh_from_db()
    assert head.next_attempt_at > timezone.now() and head.attempts == 1
    assert PartnerLink.objects.get(partner=partner).reachable
    assert relay.stream_drain(request_id=other.pk).stopped == "drained"
    assert server.sequences(other.uid) == [1, 2]
    # Its retry is queued for when it is due, not before.
    assert (queue.DRAIN_STREAM, (troubled.pk,)) in [(n, a) for n, a, c in queued if c]
    assert relay.stream_drain(request_id=troubled.pk).stopped == "waiting"


# --- A partner that stops answering, and comes back -------------------------------------------


@pytest.mark.django_db
def test_a_partner_that_does_not_answer_is_marked_down_and_left_alone_but_for_its_probe(
    partners, queued
):
    world = build_world()
    partner, server = partners("PB", 34.65)
    server.down()
    request = _ask(world, partner)
    before = timezone.now()

    assert relay.stream_drain(request_id=request.pk).stopped == relay.DOWN

    link = PartnerLink.objects.get(partner=partner)
    assert not link.reachable and link.failures == 1 and link.since >= before
    assert "ConnectionError" in link.last_error
    assert (
        before
        < link.probe_at
        <= timezone.now() + timedelta(seconds=relay.conf("PROBE_BASE_SECONDS"))
    )
    probes = [(a, c) for n, a, c in queued if n == queue.PROBE_PARTNER]
    assert probes == [
        ((partner.pk,), pytest.approx((link.probe_at - link.since).total_seconds(), abs=1))
    ]
    # What is written meanwhile is not sent on its own: one read, no call.
    _notes(request, 3)
    other = _ask(world, partner)
    assert relay.stream_drain(request_id=other.pk).stopped == "partner-down"
    assert relay.stream_drain(request_id=request.pk).stopped == "partner-down"
    assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {0, 1}
    assert OutboxMessage.objects.filter(attempts=1).count() == 1
    assert relay.streams_due() == []
    # Not yet due: the probe waits its turn; then the sweep would find it.
    assert relay.partner_probe(partner_id=partner.pk) in ("not-due", relay.DOWN)


@pytest.mark.django_db
def test_probes_back_off_to_the_cap_and_one_message_goes_each_time(partners, queued, settings):
    settings.FEDERATION = {**settings.FEDERATION, "PROBE_BASE_SECONDS": 1, "PROBE_CAP_SECONDS": 5}
    world = build_world()
    partner, server = partners("PB", 34.65)
    server.down()
    request = _ask(world, partner)
    _notes(request, 20)
    relay.stream_drain(request_id=request.pk)

    delays = []
    for _ in range(8):
        link = PartnerLink.objects.get(partner=partner)
        assert relay.partner_probe(partner_id=partner.pk, now=link.probe_at) == relay.DOWN
        after = PartnerLink.objects.get(partner=partner)
        delays.append((after.probe_at - link.probe_at).total_seconds())
    assert all(0.5 <= d <= 5.01 for d in delays), delays
    assert min(delays[-3:]) >= 2.5
    assert PartnerLink.objects.get(partner=partner).failures == 9
    # Only the oldest message was tried: nine times, once per probe.
    assert list(OutboxMessage.objects.filter(attempts__gt=0).values_list("seq", "attempts")) == [
        (1, 9)
    ]
    # A probe lost with its task is found by the sweep once its time (or lease) has passed.
    late = PartnerLink.objects.get(partner=partner).probe_at + timedelta(seconds=1)
    assert relay.probes_due() == [] and relay.probes_due(now=late) == [partner.pk]


@pytest.mark.django_db
def test_a_partner_that_comes_back_gets_its_whole_backlog_at_once_in_order(partners, queued):
    world = build_world()
    partner, server = partners("PB", 34.65)
    server.down()
    first = _ask(world, partner)
    second = _ask(world, partner)
    for i in range(40):
        _notes(first if i % 2 else second, 1)
    run_drains(queued)  # the first send fails, the rest see the partner down
    link = PartnerLink.objects.get(partner=partner)
    assert not link.reachable
    # A message that had backed off on its own (a 500 earlier) is due again with the rest.
    OutboxMessage.objects.filter(request=second, seq=1).update(
        next_attempt_at=timezone.now() + timedelta(minutes=10)
    )
    queued.clear()

    server.start()
    # The next probe finds it: one message, then every stream drains.
    assert relay.partner_probe(partner_id=partner.pk, now=link.probe_at) == relay.DELIVERED
    link.refresh_from_db()
    assert link.reachable and link.failures == 0 and link.probe_at is None
    started = [a for n, a, _ in queued if n == queue.DRAIN_STREAM]
    assert sorted(started) == sorted([(first.pk,), (second.pk,)])
    run_drains(queued)

    assert not OutboxMessage.objects.filter(delivered_at__isnull=True).exists()
    assert server.sequences(first.uid) == list(range(1, 22))
    assert server.sequences(second.uid) == list(range(1, 22))
    assert len(server.received) == 42  # nothing sent twice
    # Written during the outage, sent once: no message retried on a schedule of its own.
    assert OutboxMessage.objects.filter(attempts__gt=1).count() <= 1


@pytest.mark.django_db
def test_a_probe_with_nothing_to_send_reopens_the_link(partners, queued):
    world = build_world()
    partner, server = partners("PB", 34.65)
    server.down()
    request = _ask(world, partner)
    relay.stream_drain(request_id=request.pk)
    OutboxMessage.objects.filter(request=request).update(failed_at=timezone.now())
    link = PartnerLink.objects.get(partner=partner)

    assert relay.partner_probe(partner_id=partner.pk, now=link.probe_at) == "up"
    assert PartnerLink.objects.get(partner=partner).reachable


# --- With the real worker -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_slow_partner_holds_no_lock_while_another_message_goes_out(celery_worker, partners):
    world = build_world()
    slow, slow_server = partners("PS", 34.65, hold=True)
    fast, fast_server = partners("PF", 33.85)

    # The real worker takes the message to the slow partner and waits in its call.
    stuck = _ask(world, slow)
    assert slow_server.arrived.wait(DEADLINE), "the worker never called the slow partner"
    stuck_message = OutboxMessage.objects.get(request=stuck)

    # Meanwhile nothing is held: the row can be locked, no session sits in a transaction, and
    # another worker (this test) delivers another message and finds the stuck one taken.
    assert _row_is_unlocked(stuck_message.pk)
    assert _sessions_idle_in_transaction() == 0
    other = _ask(world, fast)
    assert relay.stream_drain(request_id=other.pk).stopped in ("drained", "waiting")
    assert relay.stream_drain(request_id=stuck.pk).stopped == "waiting"
    assert stuck.pk not in relay.streams_due()

    slow_server.release.set()
    wait_for(
        lambda: (
            OutboxMessage.objects.filter(request=other, delivered_at__isnull=False).exists()
            and OutboxMessage.objects.filter(request=stuck, delivered_at__isnull=False).exists()
        ),
        timeout=DEADLINE,
    )
    stuck_message.refresh_from_db()
    assert stuck_message.attempts == 1 and stuck_message.lease_until is None
    assert [b["id"] for b in slow_server.received] == [str(stuck_message.uid)]
    assert len(fast_server.received) == 1


@pytest.mark.django_db(transaction=True)
def test_the_worker_finds_a_returning_partner_by_itself_and_drains_its_backlog(
    celery_worker, partners
):
    """No sweep, no call from the test: the worker's probe chain finds the partner back."""
    world = build_world()
    partner, server = partners("PB", 34.65)
    server.down()
    request = _ask(world, partner)
    wait_for(
        lambda: PartnerLink.objects.filter(partner=partner, reachable=False).exists(),
        timeout=DEADLINE,
    )
    _notes(request, 30)

    server.start()
    wait_for(
        lambda: not OutboxMessage.objects.filter(delivered_at__isnull=True).exists(),
        timeout=DEADLINE,
    )
    assert server.sequences(request.uid) == list(range(1, 32))
    assert PartnerLink.objects.get(partner=partner).reachable
    assert OutboxMessage.objects.filter(attempts__gt=1).count() <= 1
