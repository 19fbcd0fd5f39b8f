"""Delivery of what outbound wrote: per request in order, per partner paced by one probe.

Each request is a stream: its messages go out one after another in sequence order, each as soon
as the partner has answered the one before, so a backlog drains as fast as the partner takes it;
streams of different requests drain side by side. The partner's HTTP call is made outside any
transaction: a worker claims the head of a stream with a conditional UPDATE that sets a lease,
commits, calls the partner, then records the result. A worker that dies mid-send leaves a lease
that runs out, and the message is sent again; the receiver applies a message id once.

When a partner does not answer, its link is marked down and nothing more is sent to it but one
probe (its oldest waiting message) on a short capped backoff; the first answer marks it up,
resets the backoff of everything waiting for it and starts every stream again.
"""

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Partner
from search.choices import AidMessageType, AidStatus, AlertKind
from search.federation import client
from search.models import MutualAidRequest, OutboxMessage, PartnerLink
from search.services import queue
from search.services.alerts import alert_raise
from search.services.queue import queue_on_commit

log = logging.getLogger(__name__)

# Answers that will not change by trying again: the partner refused the message itself.
PERMANENT_REFUSALS = {400, 404, 409, 413, 422}
# A key or secret out of step (a rotation half done) is mended by people, not by the message:
# keep retrying with backoff, and tell the coordinator at the first refusal.
CREDENTIAL_REFUSALS = {401, 403}
# No answer (None), or the partner's front saying it is down or overloaded: the partner, not
# the message, is the problem, so the whole link waits for the probe.
PARTNER_DOWN = {None, 429, 502, 503, 504}
# Rows flagged per escalation transaction.
ESCALATE_BATCH_SIZE = 200
# Messages one drain sends before it hands the stream to a fresh task (others get the worker).
DRAIN_BATCH_SIZE = 200
# Seconds a drain goes on without writing the link row while its own sends are answered.
LINK_WRITE_S = 1.0
# Streams and probes one sweep queues.
SWEEP_LIMIT = 500

# What one send came to.
DELIVERED = "delivered"
REFUSED = "refused"
RETRY = "retry"  # the partner answered, but not yes: this message backs off
DOWN = "down"  # the partner did not answer: the link waits for the probe
LEASE_LOST = "lease-lost"
ANSWERED = {DELIVERED, REFUSED, RETRY}


def conf(name: str) -> Any:
    return settings.FEDERATION[name]


def _backoff(attempts: int, base: float, cap: float) -> float:
    ceiling = min(cap, base * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - spreading load, not secrecy


def retry_delay(attempts: int) -> float:
    """Return seconds before a message the partner answered "no" is tried again."""
    return _backoff(attempts, conf("RETRY_BASE_SECONDS"), conf("RETRY_CAP_SECONDS"))


def probe_delay(failures: int) -> float:
    """Return seconds before the next probe of a partner that does not answer.

    Capped low on purpose: however long the outage, the partner is found again within one cap
    of its return, and one small request per cap is all a dead partner costs.
    """
    return _backoff(failures, conf("PROBE_BASE_SECONDS"), conf("PROBE_CAP_SECONDS"))


def _free(now: datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


# The first message of a stream still to go: everything after it waits for it.
HEAD_SQL = """
    SELECT h.id FROM search_outboxmessage h
    WHERE h.request_id = m.request_id AND h.delivered_at IS NULL AND h.failed_at IS NULL
    ORDER BY h.seq LIMIT 1
"""

CLAIM_HEAD_SQL = f"""
UPDATE search_outboxmessage m
SET lease_token = %(token)s, lease_until = %(until)s
WHERE m.request_id = %(request)s AND m.id = ({HEAD_SQL})
  AND (m.lease_until IS NULL OR m.lease_until < %(now)s)
  AND (%(any_time)s OR m.next_attempt_at <= %(now)s + interval '1 second')
RETURNING m.id
"""  # noqa: S608 - constants only


def _claim_head(
    request_id: int, now: datetime, *, any_time: bool = False
) -> tuple[int, uuid.UUID] | None:
    """Take the head of the request's stream for one send if it is due and nobody holds it."""
    token = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            CLAIM_HEAD_SQL,
            {
                "token": token,
                "until": now + timedelta(seconds=conf("LEASE_SECONDS")),
                "request": request_id,
                "now": now,
                "any_time": any_time,
            },
        )
        row = cursor.fetchone()
    return (row[0], token) if row else None


def _link_is_down(partner_id: int) -> bool:
    return PartnerLink.objects.filter(partner_id=partner_id, reachable=False).exists()


@dataclass
class Drain:
    """What one drain of a stream did: how many it sent and why it stopped."""

    sent: int
    stopped: str  # drained, waiting (head not due or held), partner-down, more, or an outcome


def stream_drain(*, request_id: int, now: datetime | None = None) -> Drain:
    """Send the request's waiting messages in order until none is left or the partner stops.

    Stops when the stream is empty ("drained"), its head is held or backing off ("waiting"),
    the partner is known to be down ("partner-down", the probe restarts it), the partner did
    not answer or said no (the send's outcome), or after DRAIN_BATCH_SIZE sends ("more", and a
    fresh task takes over).
    """
    partner = Partner.objects.filter(aid_requests__pk=request_id).first()
    if partner is None:
        return Drain(0, "drained")
    partner_id = partner.pk
    sent = 0
    # The link is looked at before the first send and written at most once a second after:
    # while this stream's own sends are answered, the partner is up, and a backlog drains at
    # the rate of each send's round trips.
    link_seen_at = None
    http = client.session()
    try:
        while sent < DRAIN_BATCH_SIZE:
            moment = now or timezone.now()
            if link_seen_at is None and _link_is_down(partner_id):
                return Drain(sent, "partner-down")
            claimed = _claim_head(request_id, moment)
            if claimed is None:
                pending = OutboxMessage.objects.filter(
                    request_id=request_id, delivered_at__isnull=True, failed_at__isnull=True
                ).exists()
                return Drain(sent, "waiting" if pending else "drained")
            fresh = link_seen_at is not None and time.monotonic() - link_seen_at < LINK_WRITE_S
            outcome = _send(*claimed, partner=partner, http=http, now=moment, link_known=fresh)
            if outcome not in (DELIVERED, REFUSED):
                return Drain(sent, outcome)
            if not fresh:
                link_seen_at = time.monotonic()
            sent += 1
    finally:
        http.close()
    queue_on_commit(queue.DRAIN_STREAM, request_id)
    return Drain(sent, "more")


def _send(
    message_id: int,
    token: uuid.UUID,
    *,
    partner: Partner,
    http: Any,
    now: datetime,
    link_known: bool = False,
) -> str:
    """Send one claimed message, record the answer, and move the partner's link with it.

    `link_known`: the caller saw the partner answer within the last LINK_WRITE_S, so a
    delivery need not touch the link row.
    """
    request_id, uid, body = OutboxMessage.objects.values_list("request_id", "uid", "body").get(
        pk=message_id
    )
    # No transaction and no lock is held across the call: a slow partner holds up nobody.
    result = client.post_message(partner=partner, msg_id=str(uid), body=body, http=http)
    outcome, delay = _record(message_id=message_id, token=token, result=result)
    if outcome == RETRY:
        # The attempt is recorded already: a failed publish is picked up by the sweep at
        # next_attempt_at.
        queue_on_commit(queue.DRAIN_STREAM, request_id, countdown=delay)
    if outcome == LEASE_LOST or (outcome == DELIVERED and link_known):
        return outcome
    _link_after(partner_id=partner.pk, outcome=outcome, error=result.error, now=now)
    return outcome


# What an answer changes on a message: its body (the largest column) is written once, by outbound.
ANSWER_FIELDS = [
    "attempts", "response_status", "lease_token", "lease_until", "delivered_at", "failed_at",
    "last_error", "next_attempt_at",
]  # fmt: skip


@transaction.atomic
def _record(
    *, message_id: int, token: uuid.UUID, result: client.DeliveryResult
) -> tuple[str, float]:
    """Store what the partner answered, if this worker still holds the message."""
    # The request, its partner and case are loaded only on the rare paths that name them.
    message = OutboxMessage.objects.select_for_update().get(pk=message_id)
    if message.lease_token != token:
        log.warning(
            "outbox message %s: lease lost while sending; the new holder records", message_id
        )
        return LEASE_LOST, 0.0
    now = timezone.now()
    message.attempts += 1
    message.response_status = result.status
    message.lease_token = None
    message.lease_until = None
    if result.status is not None and 200 <= result.status < 300:
        message.delivered_at = now
        message.last_error = ""
        message.save(update_fields=ANSWER_FIELDS)
        if message.type == AidMessageType.REQUEST:
            MutualAidRequest.objects.filter(pk=message.request_id, status=AidStatus.SENT).update(
                status=AidStatus.ACKNOWLEDGED, status_changed_at=now, acknowledged_at=now
            )
        return DELIVERED, 0.0
    message.last_error = result.error[:2000]
    if result.status in PARTNER_DOWN:
        # Due again as soon as the partner is back: the link, not this row, says when.
        message.save(update_fields=ANSWER_FIELDS)
        return DOWN, 0.0
    request = message.request
    if result.status in PERMANENT_REFUSALS:
        message.failed_at = now
        message.save(update_fields=ANSWER_FIELDS)
        if request.case is not None:
            alert_raise(
                case=request.case,
                kind=AlertKind.AID_UNDELIVERED,
                message=f"{request.partner} refused '{message.type}': {result.error[:300]}",
            )
        return REFUSED, 0.0
    if result.status in CREDENTIAL_REFUSALS and message.attempts == 1 and request.case is not None:
        alert_raise(
            case=request.case,
            kind=AlertKind.AID_UNDELIVERED,
            message=f"{request.partner} does not accept our key or signature "
            f"({result.status}); still retrying: {result.error[:300]}",
        )
    delay = retry_delay(message.attempts)
    message.next_attempt_at = now + timedelta(seconds=delay)
    message.save(update_fields=ANSWER_FIELDS)
    return RETRY, delay


LINK_DOWN_SQL = """
INSERT INTO search_partnerlink AS l (partner_id, reachable, since, failures, probe_at, last_error)
VALUES (%(partner)s, FALSE, %(now)s, 1, NULL, %(error)s)
ON CONFLICT (partner_id) DO UPDATE SET
    reachable = FALSE,
    since = CASE WHEN l.reachable THEN EXCLUDED.since ELSE l.since END,
    failures = l.failures + 1,
    last_error = EXCLUDED.last_error
RETURNING l.failures
"""

# A link seen answering: recorded at most once a second, so a stream draining fast does not
# write the row for every message.
LINK_ANSWERED_SQL = """
INSERT INTO search_partnerlink AS l (partner_id, reachable, since, failures, last_success_at,
                                     last_error)
VALUES (%(partner)s, TRUE, %(now)s, 0, %(now)s, '')
ON CONFLICT (partner_id) DO UPDATE SET last_success_at = EXCLUDED.last_success_at
WHERE l.reachable AND (l.last_success_at IS NULL
                       OR l.last_success_at < EXCLUDED.last_success_at - interval '1 second')
"""


@transaction.atomic
def _link_after(*, partner_id: int, outcome: str, error: str, now: datetime) -> None:
    """Mark the partner down (and schedule its probe) or up (and start its catch-up)."""
    if outcome == DOWN:
        with connection.cursor() as cursor:
            cursor.execute(
                LINK_DOWN_SQL, {"partner": partner_id, "now": now, "error": error[:2000]}
            )
            (failures,) = cursor.fetchone()
        delay = probe_delay(failures)
        PartnerLink.objects.filter(partner_id=partner_id).update(
            probe_at=now + timedelta(seconds=delay)
        )
        queue_on_commit(queue.PROBE_PARTNER, partner_id, countdown=delay)
        return
    if _reopen(partner_id, now, last_success_at=now):
        catch_up(partner_id=partner_id, now=now)
        return
    with connection.cursor() as cursor:
        cursor.execute(LINK_ANSWERED_SQL, {"partner": partner_id, "now": now})


def _reopen(partner_id: int, now: datetime, **answered: Any) -> bool:
    """Mark a partner that was down up again; return whether this call did it."""
    return bool(
        PartnerLink.objects.filter(partner_id=partner_id, reachable=False).update(
            reachable=True, since=now, failures=0, probe_at=None, last_error="", **answered
        )
    )


def _waiting_for(partner_id: int) -> Any:
    return OutboxMessage.objects.filter(
        request__partner_id=partner_id, delivered_at__isnull=True, failed_at__isnull=True
    )


def catch_up(*, partner_id: int, now: datetime) -> list[int]:
    """The partner answers again: everything waiting for it is due now, every stream drains.

    Returns the requests whose streams were started, oldest waiting first.
    """
    waiting = _waiting_for(partner_id)
    waiting.filter(next_attempt_at__gt=now).update(next_attempt_at=now)
    streams = list(
        dict.fromkeys(waiting.order_by("created_at", "pk").values_list("request_id", flat=True))
    )
    for request_id in streams:
        queue_on_commit(queue.DRAIN_STREAM, request_id)
    log.info("partner %s answers again: draining %d streams", partner_id, len(streams))
    return streams


def partner_probe(*, partner_id: int, now: datetime | None = None) -> str:
    """Try a partner that did not answer with its oldest waiting message, if its time has come.

    "not-due" (not yet, someone else probes, or it is up), "up" (nothing waits: the next
    message will tell), "busy" (that message is being sent: try again shortly), or the send's
    outcome: delivered/refused/retry (the partner answers: its catch-up has started) or down.
    """
    now = now or timezone.now()
    if not PartnerLink.objects.filter(
        partner_id=partner_id, reachable=False, probe_at__lte=now + timedelta(seconds=1)
    ).update(probe_at=now + timedelta(seconds=conf("LEASE_SECONDS"))):
        return "not-due"
    oldest = _waiting_for(partner_id).order_by("created_at", "pk").values("request_id").first()
    if oldest is None:
        _reopen(partner_id, now)
        return "up"
    claimed = _claim_head(oldest["request_id"], now, any_time=True)
    if claimed is None:
        delay = conf("PROBE_BASE_SECONDS")
        PartnerLink.objects.filter(partner_id=partner_id).update(
            probe_at=now + timedelta(seconds=delay)
        )
        queue_on_commit(queue.PROBE_PARTNER, partner_id, countdown=delay)
        return "busy"
    http = client.session()
    try:
        return _send(*claimed, partner=Partner.objects.get(pk=partner_id), http=http, now=now)
    finally:
        http.close()


STREAMS_DUE_SQL = f"""
SELECT m.request_id FROM search_outboxmessage m
JOIN search_mutualaidrequest r ON r.id = m.request_id
LEFT JOIN search_partnerlink l ON l.partner_id = r.partner_id
WHERE m.delivered_at IS NULL AND m.failed_at IS NULL
  AND m.next_attempt_at <= %(now)s
  AND (m.lease_until IS NULL OR m.lease_until < %(now)s)
  AND (l.reachable IS NULL OR l.reachable)
  AND m.id = ({HEAD_SQL})
ORDER BY m.created_at, m.id
LIMIT %(limit)s
"""  # noqa: S608 - constants only


def streams_due(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> list[int]:
    """Return requests whose next message should have gone out by now, to partners not down."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            STREAMS_DUE_SQL,
            {"now": now, "limit": limit},
        )
        return [row[0] for row in cursor.fetchall()]


def probes_due(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> list[int]:
    """Return partners down whose probe is due (a lost probe task, a dead prober's lease)."""
    now = now or timezone.now()
    return list(
        PartnerLink.objects.filter(Q(probe_at__isnull=True) | Q(probe_at__lte=now), reachable=False)
        .order_by("probe_at")
        .values_list("partner_id", flat=True)[:limit]
    )


def aid_escalate(*, now: datetime | None = None) -> int:
    """Flag requests the partner has left unanswered too long (once per wait)."""
    now = now or timezone.now()
    flagged = 0
    overdue = (
        MutualAidRequest.objects.overdue(now)
        .filter(escalated_at__isnull=True)
        .select_related("partner__organisation", "case")
    )
    for request in overdue[:ESCALATE_BATCH_SIZE]:
        with transaction.atomic():
            # Another beat run may have flagged it in the meantime: count only what we flag.
            if not MutualAidRequest.objects.filter(pk=request.pk, escalated_at__isnull=True).update(
                escalated_at=now
            ):
                continue
            flagged += 1
            if request.case_id:
                alert_raise(
                    case=request.case,
                    kind=AlertKind.AID_OVERDUE,
                    message=f"{request.partner} has not answered the request for aid sent "
                    f"{timezone.localtime(request.created_at):%H:%M}.",
                )
    return flagged
