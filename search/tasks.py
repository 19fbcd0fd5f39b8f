"""Celery tasks: ids in, one service call, retry policy."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from search.services import areas, field, offers, public, supervision
from search.services.aid import relay


@shared_task(bind=True, max_retries=5, default_retry_delay=5)
def dispatch(self, case_id: int) -> None:
    """Compute the case's search area if it has none, then offer what waits to units."""
    areas.dispatch_case(case_id=case_id)


@shared_task
def offers_expire() -> None:
    """Expire unanswered offers and offer those sectors to the next units."""
    for case_id in offers.offers_expire():
        dispatch.delay(case_id)


@shared_task
def tasks_flag_stale() -> None:
    offers.tasks_flag_stale()


@shared_task
def areas_grow() -> None:
    """Grow the area of every open case with elapsed time, then offer the new sectors."""
    for case_id in areas.areas_grow():
        dispatch.delay(case_id)


@shared_task
def dispatch_sweep() -> None:
    """Re-queue dispatch for every case with work waiting: a lost message is found again here."""
    for case_id in offers.cases_waiting_for_offers():
        dispatch.delay(case_id)


@shared_task
def offers_notify(task_ids: list[int]) -> None:
    """E-mail units that asked for it about their new offers."""
    from search.models import Task

    tasks = Task.objects.filter(pk__in=task_ids, status="offered").select_related("unit", "case")
    by_unit: dict = {}
    for task in tasks:
        if task.unit.notify_email:
            by_unit.setdefault(task.unit, []).append(task)
    for unit, unit_offers in by_unit.items():
        lines = [
            f"{t.case.reference} sector {t.sector_id}, answer by {t.expires_at:%H:%M}"
            for t in unit_offers
        ]
        send_mail(
            subject=f"[Beacon] {len(unit_offers)} new search offer(s)",
            message="\n".join(lines),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[unit.notify_email],
        )


@shared_task
def drain_stream(request_id: int) -> str:
    """Send a request's waiting partner messages in order; the service schedules what follows."""
    return relay.stream_drain(request_id=request_id).stopped


@shared_task
def probe_partner(partner_id: int) -> str:
    """Try a partner that stopped answering; its first answer starts its catch-up."""
    return relay.partner_probe(partner_id=partner_id)


@shared_task
def deliver_message(message_id: int) -> str:
    """Queued by an earlier release (one task per message): drain that message's stream."""
    from search.models import OutboxMessage

    request_id = (
        OutboxMessage.objects.filter(pk=message_id).values_list("request_id", flat=True).first()
    )
    return relay.stream_drain(request_id=request_id).stopped if request_id else "gone"


@shared_task
def federation_sweep() -> dict[str, int]:
    """Restart what the broker lost: streams due to partners that answer, probes overdue.

    The outbox, not the broker, is the record of what must still go out.
    """
    streams = relay.streams_due()
    for request_id in streams:
        drain_stream.delay(request_id)
    probes = relay.probes_due()
    for partner_id in probes:
        probe_partner.delay(partner_id)
    return {"streams": len(streams), "probes": len(probes)}


@shared_task
def aid_escalate() -> int:
    """Flag requests for aid a partner has left unanswered."""
    return relay.aid_escalate()


@shared_task
def orders_escalate() -> int:
    """Escalate supervision orders left unanswered past their deadline."""
    return supervision.orders_escalate(now=timezone.now())


@shared_task
def public_alerts_tick() -> dict[str, int]:
    """Widen active public alerts whose circle has grown; end those whose case closed."""
    return public.alerts_tick(now=timezone.now())


@shared_task
def positions_prune() -> int:
    """Delete units' track positions past their retention."""
    return field.positions_prune()
