"""Delivery of what outbound wrote: signed, retried with backoff, escalated when unanswered.

The partner's HTTP call is made outside any transaction. A worker claims the row with a
conditional UPDATE that sets a lease, commits, calls the partner, then records the result; a
worker that dies mid-send leaves a lease that runs out, and the row is sent again. The receiver
applies a message id once, so a message sent twice is applied once.
"""

import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from search.choices import AidMessageType, AidStatus, AlertKind
from search.federation import client
from search.models import MutualAidRequest, OutboxMessage
from search.services import queue
from search.services.alerts import alert_raise
from search.services.queue import queue_on_commit

log = logging.getLogger(__name__)

# Answers that will not change by trying again: the partner refused the message itself.
PERMANENT_REFUSALS = {400, 404, 409, 413, 422}
# A key or secret out of step (a rotation half done) is mended by people, not by the message:
# keep retrying with backoff, and tell the coordinator at the first refusal.
CREDENTIAL_REFUSALS = {401, 403}
# Rows flagged per escalation transaction.
ESCALATE_BATCH_SIZE = 200


def conf(name: str) -> Any:
    return settings.FEDERATION[name]


def retry_delay(attempts: int) -> float:
    """Return seconds before the next try: exponential, capped, with full jitter."""
    ceiling = min(conf("RETRY_CAP_SECONDS"), conf("RETRY_BASE_SECONDS") * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - spreading load, not secrecy


def _free(now: datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def _claim(message_id: int, now: datetime) -> uuid.UUID | None:
    """Take the message for one send if it is due and nobody holds it; return the lease token."""
    token = uuid.uuid4()
    claimed = OutboxMessage.objects.filter(
        _free(now),
        pk=message_id,
        delivered_at__isnull=True,
        failed_at__isnull=True,
        next_attempt_at__lte=now + timedelta(seconds=1),
    ).update(lease_token=token, lease_until=now + timedelta(seconds=conf("LEASE_SECONDS")))
    return token if claimed else None


def outbox_deliver(*, message_id: int, now: datetime | None = None) -> str:
    """Send one outgoing message if it is due; return what happened.

    "done-or-busy": delivered, refused for good, or another worker holds it; "not-due": its
    next try is later; then "delivered", "refused", "retry" or "lease-lost" (this worker took
    longer than its lease and another one took the message over).
    """
    now = now or timezone.now()
    token = _claim(message_id, now)
    if token is None:
        due = OutboxMessage.objects.filter(
            _free(now), pk=message_id, delivered_at__isnull=True, failed_at__isnull=True
        ).exists()
        return "not-due" if due else "done-or-busy"
    message = OutboxMessage.objects.select_related("request__partner__organisation").get(
        pk=message_id
    )
    # No transaction and no lock is held across the call: a slow partner holds up nobody.
    result = client.post_message(
        partner=message.request.partner, msg_id=str(message.uid), body=message.body
    )
    outcome, delay = _record(message_id=message_id, token=token, result=result)
    if outcome == "retry":
        # The attempt is recorded already: a failed publish is picked up by the sweep at
        # next_attempt_at.
        queue_on_commit(queue.DELIVER_MESSAGE, message_id, countdown=delay)
    return outcome


@transaction.atomic
def _record(
    *, message_id: int, token: uuid.UUID, result: client.DeliveryResult
) -> tuple[str, float]:
    """Store what the partner answered, if this worker still holds the message."""
    message = (
        OutboxMessage.objects.select_for_update(of=("self",))
        .select_related("request__partner__organisation", "request__case")
        .get(pk=message_id)
    )
    if message.lease_token != token:
        log.warning(
            "outbox message %s: lease lost while sending; the new holder records", message_id
        )
        return "lease-lost", 0.0
    request = message.request
    now = timezone.now()
    message.attempts += 1
    message.response_status = result.status
    message.lease_token = None
    message.lease_until = None
    if result.status is not None and 200 <= result.status < 300:
        message.delivered_at = now
        message.last_error = ""
        message.save()
        if message.type == AidMessageType.REQUEST:
            MutualAidRequest.objects.filter(pk=request.pk, status=AidStatus.SENT).update(
                status=AidStatus.ACKNOWLEDGED, status_changed_at=now, acknowledged_at=now
            )
        return "delivered", 0.0
    message.last_error = result.error[:2000]
    if result.status in PERMANENT_REFUSALS:
        message.failed_at = now
        message.save()
        if request.case is not None:
            alert_raise(
                case=request.case,
                kind=AlertKind.AID_UNDELIVERED,
                message=f"{request.partner} refused '{message.type}': {result.error[:300]}",
            )
        return "refused", 0.0
    if result.status in CREDENTIAL_REFUSALS and message.attempts == 1 and request.case is not None:
        alert_raise(
            case=request.case,
            kind=AlertKind.AID_UNDELIVERED,
            message=f"{request.partner} does not accept our key or signature "
            f"({result.status}); still retrying: {result.error[:300]}",
        )
    delay = retry_delay(message.attempts)
    message.next_attempt_at = now + timedelta(seconds=delay)
    message.save()
    return "retry", delay


def outbox_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Return ids of messages that should have gone out by now and that nobody holds."""
    now = now or timezone.now()
    return list(
        OutboxMessage.objects.filter(
            _free(now),
            delivered_at__isnull=True,
            failed_at__isnull=True,
            next_attempt_at__lte=now,
        )
        .order_by("request_id", "seq")
        .values_list("pk", flat=True)[:limit]
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
