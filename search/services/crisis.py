"""The crisis desk: contact attempts with people at risk of self-harm, or their families."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from search import permissions
from search.choices import EventKind
from search.models import Case, CrisisContact
from search.services.timeline import Origin, event_record


@transaction.atomic
def crisis_contact_record(
    *, origin: Origin, case: Case, channel: str, result: str, note: str = ""
) -> CrisisContact:
    """Record one contact attempt on a case flagged at risk, and put it on the timeline."""
    if not permissions.can_work_crisis_desk(origin.actor):
        raise PermissionDenied(_("Only crisis counsellors record contact attempts."))
    if not case.self_harm_risk:
        raise ValidationError(_("This case is not on the crisis desk."), code="not_flagged")
    contact = CrisisContact(
        case=case,
        counsellor=origin.actor,
        attempted_at=timezone.now(),
        channel=channel,
        result=result,
        note=note.strip(),
    )
    contact.full_clean()
    contact.save()
    event_record(
        case=case,
        kind=EventKind.CONTACT_ATTEMPT,
        origin=origin,
        data={"channel": channel, "result": result},
    )
    return contact
