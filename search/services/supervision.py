"""Supervision orders (督办): issued to a desk or a person, answered, satisfied or re-opened.

Every step is a conditional update on the status and version the actor read, so two people
acting at once cannot both win, and every step is on the case's timeline. An order still without
its answer at the deadline escalates one level up the organisation tree (`orders_escalate`, beat).
"""

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation, Role, User
from accounts.selectors import organisation_tree_ids
from search import permissions
from search.choices import (
    ORDER_AWAITING_ANSWER,
    AlertKind,
    CaseStatus,
    EventKind,
    OrderAction,
    OrderStatus,
)
from search.models import Case, MutualAidRequest, SupervisionOrder
from search.models.supervision import MAX_ORDER_TEXT
from search.services.alerts import alert_raise
from search.services.timeline import Origin, event_record

# The furthest ahead a deadline may be: an order is about this search, not next year's.
MAX_DEADLINE_AHEAD = timedelta(days=90)
# Overdue orders escalated per beat run; the next run takes the rest.
ESCALATE_BATCH_SIZE = 200


def _text(value: str, field: str, *, required: bool = True) -> str:
    value = (value or "").strip()
    if "\x00" in value:
        raise ValidationError({field: _("Null characters are not allowed.")}, code="null")
    if required and not value:
        raise ValidationError({field: _("This field is required.")}, code="required")
    if len(value) > MAX_ORDER_TEXT:
        raise ValidationError(
            {field: _("At most %(n)d characters.") % {"n": MAX_ORDER_TEXT}}, code="max_length"
        )
    return value


def _check_deadline(deadline: datetime, now: datetime) -> None:
    if timezone.is_naive(deadline):
        raise ValidationError({"deadline": _("Give the deadline with its time zone.")})
    if deadline <= now:
        raise ValidationError(
            {"deadline": _("The deadline must be in the future.")}, code="past_deadline"
        )
    if deadline > now + MAX_DEADLINE_AHEAD:
        raise ValidationError(
            {"deadline": _("The deadline may be at most 90 days ahead.")}, code="far_deadline"
        )


def issuable_desk_ids(user: User) -> list[int]:
    """Return the desks the user may order: a supervisor any desk of their tree, a coordinator
    the desks below their own."""
    tree = organisation_tree_ids(user.organisation)
    if permissions.has_any_role(user, {Role.SUPERVISOR}):
        return tree
    if permissions.has_any_role(user, {Role.COORDINATOR}):
        return [pk for pk in tree if pk != user.organisation_id]
    return []


def may_issue_to(user: User, desk: Organisation) -> bool:
    """Return whether the user may order that desk (see `issuable_desk_ids`)."""
    return desk.pk in issuable_desk_ids(user)


def is_holder(user: User, order: SupervisionOrder) -> bool:
    """Return whether the user must answer the order: its addressee, or the desk it escalated to."""
    if not user.is_authenticated or not user.is_active:
        return False
    if order.addressee_user_id is not None:
        if user.pk == order.addressee_user_id:
            return True
    elif user.organisation_id == order.addressee_organisation_id and permissions.can_work_orders(
        user
    ):
        return True
    return (
        order.escalated_to_id is not None
        and user.organisation_id == order.escalated_to_id
        and permissions.can_work_orders(user)
    )


def is_issuer(user: User, order: SupervisionOrder) -> bool:
    """Return whether the user may close or re-open it: who issued it, or a supervisor of that
    desk (the issuer may be off duty)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.pk == order.issued_by_id or (
        user.organisation_id == order.issuer_organisation_id
        and permissions.has_any_role(user, {Role.SUPERVISOR})
    )


def _record(*, order: SupervisionOrder, origin: Origin, what: str, **data: Any) -> None:
    if order.aid_request is not None:
        data["aid_request"] = str(order.aid_request.uid)
    data = {"what": what, "order": order.pk, **data}
    event_record(case=order.case, kind=EventKind.SUPERVISION, origin=origin, data=data)


def _move(
    order: SupervisionOrder, *, allowed: tuple[str, ...], version: int | None, **changes: Any
) -> SupervisionOrder:
    """Apply the changes if the order is still in an allowed status at the version read."""
    read = order.version if version is None else version
    moved = SupervisionOrder.objects.filter(pk=order.pk, status__in=allowed, version=read).update(
        version=F("version") + 1, **changes
    )
    if not moved:
        current = SupervisionOrder.objects.get(pk=order.pk)
        if current.status not in allowed:
            raise ValidationError(
                _("This order is %(status)s: that cannot be done now.")
                % {"status": current.get_status_display()},
                code="wrong_status",
            )
        raise ValidationError(
            _("Someone changed this order meanwhile; reload it and try again."), code="stale"
        )
    order.refresh_from_db()
    return order


@transaction.atomic
def order_issue(
    *,
    origin: Origin,
    case: Case,
    instruction: str,
    deadline: datetime,
    desk: Organisation,
    person: User | None = None,
    aid_request: MutualAidRequest | None = None,
) -> SupervisionOrder:
    """Order a desk (or one person of it) to do something on a case or aid request by a deadline."""
    issuer = origin.actor
    now = timezone.now()
    if not permissions.can_work_orders(issuer):
        raise PermissionDenied(_("Only supervisors and coordinators issue supervision orders."))
    if case.organisation_id not in organisation_tree_ids(issuer.organisation):
        raise PermissionDenied(_("This case is not under your desk."))
    if aid_request is not None and aid_request.case_id != case.pk:
        raise ValidationError(
            {"aid_request": _("That request is not about this case.")}, code="other_case"
        )
    if case.status == CaseStatus.CLOSED:
        raise ValidationError(_("The case is closed."), code="closed")
    instruction = _text(instruction, "instruction")
    _check_deadline(deadline, now)
    if not may_issue_to(issuer, desk):
        raise ValidationError(
            {"desk": _("You may only order desks under your own.")}, code="outside_tree"
        )
    if person is not None and (
        person.organisation_id != desk.pk
        or not person.is_active
        or not permissions.can_work_orders(person)
    ):
        raise ValidationError(
            {"person": _("Choose a coordinator or supervisor of that desk.")},
            code="not_of_desk",
        )
    order = SupervisionOrder.objects.create(
        case=case,
        aid_request=aid_request,
        issued_by=issuer,
        issuer_organisation_id=issuer.organisation_id,
        addressee_organisation=desk,
        addressee_user=person,
        instruction=instruction,
        deadline=deadline,
        created_at=now,
    )
    _record(
        order=order,
        origin=origin,
        what="issued",
        instruction=instruction,
        deadline=deadline.isoformat(),
        desk=desk.code,
        person=person.username if person else "",
    )
    return order


@transaction.atomic
def order_acknowledge(
    *, origin: Origin, order: SupervisionOrder, version: int | None = None
) -> SupervisionOrder:
    """Say the order has been seen and is being worked on."""
    if not is_holder(origin.actor, order):
        raise PermissionDenied(_("This order is not addressed to you."))
    order = _move(
        order,
        allowed=(OrderStatus.ISSUED, OrderStatus.REOPENED),
        version=version,
        status=OrderStatus.ACKNOWLEDGED,
        acknowledged_at=timezone.now(),
    )
    _record(order=order, origin=origin, what="acknowledged")
    return order


@transaction.atomic
def order_answer(
    *,
    origin: Origin,
    order: SupervisionOrder,
    answer: str,
    action: str = "",
    version: int | None = None,
) -> SupervisionOrder:
    """Answer the order: what was done, and optionally which change to the search it made."""
    if not is_holder(origin.actor, order):
        raise PermissionDenied(_("This order is not addressed to you."))
    answer = _text(answer, "answer")
    if action not in OrderAction.values:
        raise ValidationError({"action": _("Choose what was done.")}, code="invalid")
    now = timezone.now()
    order = _move(
        order,
        allowed=ORDER_AWAITING_ANSWER,
        version=version,
        status=OrderStatus.ANSWERED,
        answer=answer,
        answer_action=action,
        answered_by=origin.actor,
        answered_at=now,
        acknowledged_at=order.acknowledged_at or now,
    )
    _record(order=order, origin=origin, what="answered", answer=answer, action=action)
    return order


@transaction.atomic
def order_satisfy(
    *, origin: Origin, order: SupervisionOrder, version: int | None = None
) -> SupervisionOrder:
    """Close the answered order as satisfied."""
    if not is_issuer(origin.actor, order):
        raise PermissionDenied(_("Only the desk that issued the order may close it."))
    order = _move(
        order,
        allowed=(OrderStatus.ANSWERED,),
        version=version,
        status=OrderStatus.SATISFIED,
        closed_at=timezone.now(),
    )
    _record(order=order, origin=origin, what="satisfied")
    return order


@transaction.atomic
def order_reopen(
    *,
    origin: Origin,
    order: SupervisionOrder,
    reason: str,
    deadline: datetime,
    version: int | None = None,
) -> SupervisionOrder:
    """Send the answer back with a reason and a new deadline: the addressee answers again."""
    if not is_issuer(origin.actor, order):
        raise PermissionDenied(_("Only the desk that issued the order may re-open it."))
    reason = _text(reason, "reason")
    _check_deadline(deadline, timezone.now())
    order = _move(
        order,
        allowed=(OrderStatus.ANSWERED,),
        version=version,
        status=OrderStatus.REOPENED,
        reopen_reason=reason,
        deadline=deadline,
        escalated_at=None,
        escalated_to=None,
    )
    _record(
        order=order, origin=origin, what="reopened", reason=reason, deadline=deadline.isoformat()
    )
    return order


def orders_escalate(*, now: datetime) -> int:
    """Escalate orders left unanswered past their deadline one level up; return how many."""
    escalated = 0
    overdue = (
        SupervisionOrder.objects.overdue(now)
        .filter(escalated_at__isnull=True)
        .select_related("addressee_organisation", "case")
        .order_by("deadline")[:ESCALATE_BATCH_SIZE]
    )
    for order in overdue:
        escalated += _escalate_one(order=order, now=now)
    return escalated


@transaction.atomic
def _escalate_one(*, order: SupervisionOrder, now: datetime) -> int:
    desk = order.addressee_organisation
    # The city has nobody above it: the order stays with it, flagged overdue.
    above = desk.parent_id or desk.pk
    moved = SupervisionOrder.objects.filter(
        pk=order.pk, status__in=ORDER_AWAITING_ANSWER, escalated_at__isnull=True
    ).update(escalated_at=now, escalated_to_id=above, version=F("version") + 1)
    if not moved:
        return 0
    order.refresh_from_db()
    _record(
        order=order,
        origin=Origin.system(),
        what="escalated",
        to=Organisation.objects.values_list("code", flat=True).get(pk=above),
        deadline=order.deadline.isoformat(),
    )
    alert_raise(
        case=order.case,
        kind=AlertKind.ORDER_OVERDUE,
        message=_("Supervision order %(id)s is overdue: %(text)s")
        % {"id": order.pk, "text": order.instruction[:200]},
    )
    return 1
