"""Delivery of outbox messages: the partner's call is made with no lock and no transaction held."""

import json
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.utils import timezone

from search.models import OutboxMessage
from search.services.aid import desk, relay
from search.services.timeline import Origin
from tests.helpers import wait_for
from tests.search.dispatch_world import build_world, open_case
from tests.search.federation.conftest import make_partner

# Generous: CI's machine may be busy.
DEADLINE = 120


class Partner:
    """A partner's Beacon on loopback that answers 200, or holds each call until released."""

    def __init__(self, *, hold: bool):
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.received: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append(body["id"])
                outer.arrived.set()
                if hold:
                    outer.release.wait(DEADLINE)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "applied"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/"

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partners():
    made = []

    def make(code: str, lat: float, *, hold: bool = False):
        server = Partner(hold=hold)
        made.append(server)
        partner = make_partner(code, lat).partner
        partner.base_url = server.url
        partner.save()
        return partner, server

    yield make
    for server in made:
        server.stop()


def _ask(world, partner) -> OutboxMessage:
    case = open_case(world)
    desk.aid_request_send(origin=Origin(actor=world.clerk), case=case, partner=partner, reason="r")
    return OutboxMessage.objects.get(request__partner=partner)


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


@pytest.mark.django_db(transaction=True)
def test_a_slow_partner_holds_no_lock_while_another_message_goes_out(celery_worker, partners):
    world = build_world()
    slow, slow_server = partners("PS", 34.65, hold=True)
    fast, fast_server = partners("PF", 33.85)

    # The real worker takes the message to the slow partner and waits in its call.
    stuck = _ask(world, slow)
    assert slow_server.arrived.wait(DEADLINE), "the worker never called the slow partner"

    # Meanwhile nothing is held: the row can be locked, no session sits in a transaction, and
    # another worker (this test) delivers another message and finds the stuck one taken.
    assert _row_is_unlocked(stuck.pk)
    assert _sessions_idle_in_transaction() == 0
    other = _ask(world, fast)
    assert relay.outbox_deliver(message_id=other.pk) == "delivered"
    assert relay.outbox_deliver(message_id=stuck.pk) == "done-or-busy"
    assert stuck.pk not in relay.outbox_due()
    assert fast_server.received == [str(other.uid)]

    slow_server.release.set()
    wait_for(
        lambda: OutboxMessage.objects.filter(pk=stuck.pk, delivered_at__isnull=False).exists(),
        timeout=DEADLINE,
    )
    stuck.refresh_from_db()
    assert stuck.attempts == 1 and stuck.lease_until is None
    assert slow_server.received == [str(stuck.uid)]


@pytest.mark.django_db
def test_a_dead_workers_lease_runs_out_and_the_message_is_sent_again(partners):
    world = build_world()
    partner, server = partners("PB", 34.65)
    message = _ask(world, partner)
    # A worker claimed it and died mid-send: its lease is still on the row.
    OutboxMessage.objects.filter(pk=message.pk).update(
        lease_token=uuid.uuid4(), lease_until=timezone.now() + timedelta(seconds=60)
    )

    assert relay.outbox_deliver(message_id=message.pk) == "done-or-busy"
    assert relay.outbox_due() == []
    assert server.received == []

    later = timezone.now() + timedelta(seconds=61)
    assert relay.outbox_due(now=later) == [message.pk]
    assert relay.outbox_deliver(message_id=message.pk, now=later) == "delivered"
    message.refresh_from_db()
    assert message.delivered_at and message.lease_token is None
    assert server.received == [str(message.uid)]


@pytest.mark.django_db
def test_a_worker_that_outlived_its_lease_leaves_the_record_to_the_new_holder(
    partners, monkeypatch
):
    world = build_world()
    partner, _ = partners("PB", 34.65)
    message = _ask(world, partner)
    real_post = relay.client.post_message

    def post_then_lose_the_lease(**kwargs):
        answer = real_post(**kwargs)
        # While we were sending, our lease ran out and another worker claimed the row.
        OutboxMessage.objects.filter(pk=message.pk).update(lease_token=uuid.uuid4())
        return answer

    monkeypatch.setattr(relay.client, "post_message", post_then_lose_the_lease)

    assert relay.outbox_deliver(message_id=message.pk) == "lease-lost"
    message.refresh_from_db()
    assert message.delivered_at is None and message.attempts == 0


@pytest.mark.django_db
def test_a_message_not_due_is_not_sent(partners):
    world = build_world()
    partner, server = partners("PB", 34.65)
    message = _ask(world, partner)
    OutboxMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )

    assert relay.outbox_deliver(message_id=message.pk) == "not-due"
    assert server.received == []
