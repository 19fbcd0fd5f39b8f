"""Every status and category of the search app, in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACTIVE = "active", _("Active")
    FOUND = "found", _("Found")
    CLOSED = "closed", _("Closed")


class Priority(models.IntegerChoices):
    """Lower sorts first: the newest critical cases head every list."""

    CRITICAL = 1, _("Critical")
    HIGH = 2, _("High")
    NORMAL = 3, _("Normal")


class SubjectCategory(models.TextChoices):
    YOUNG_CHILD = "young_child", _("Young child (1-6)")
    CHILD = "child", _("Child (7-12)")
    YOUTH = "youth", _("Youth (13-17)")
    ADULT = "adult", _("Adult")
    DEMENTIA = "dementia", _("Elderly with dementia")
    AUTISM = "autism", _("Autism")
    INTELLECTUAL_DISABILITY = "intellectual_disability", _("Intellectual disability")
    DESPONDENT = "despondent", _("Despondent / at risk of self-harm")
    OTHER = "other", _("Other")


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    UNKNOWN = "unknown", _("Unknown")


class WeatherExposure(models.TextChoices):
    NONE = "none", _("Sheltered or mild weather")
    MODERATE = "moderate", _("Cold, heat or rain")
    SEVERE = "severe", _("Severe: freezing, storm, extreme heat")


class ReportChannel(models.TextChoices):
    PHONE_110 = "phone_110", _("110 call")
    WALK_IN = "walk_in", _("Walk-in at a station")
    ONLINE = "online", _("Online report")
    REFERRAL = "referral", _("Referral from another agency")
    OTHER = "other", _("Other")


class LocationSource(models.TextChoices):
    PIN = "pin", _("Pinned on the map")
    GEOCODED = "geocoded", _("Geocoded from the address")
    PARTNER = "partner", _("Given by a partner city")
    API = "api", _("Given as coordinates")


class Outcome(models.TextChoices):
    FOUND_WELL = "found_well", _("Found well")
    FOUND_NEEDS_CARE = "found_needs_care", _("Found, needs care")
    FOUND_INJURED = "found_injured", _("Found injured")
    FOUND_DECEASED = "found_deceased", _("Found deceased")
    RETURNED = "returned", _("Returned by themselves")
    # The search ended without finding the person: what makes a recovery rate below 100 %.
    NOT_FOUND = "not_found", _("Search suspended, not found")
    WITHDRAWN = "withdrawn", _("Report withdrawn")


# A case ends with the person located (found, by the search or otherwise, or back by themselves).
LOCATED_OUTCOMES = (
    Outcome.FOUND_WELL,
    Outcome.FOUND_NEEDS_CARE,
    Outcome.FOUND_INJURED,
    Outcome.FOUND_DECEASED,
    Outcome.RETURNED,
)


class EventKind(models.TextChoices):
    CREATED = "created", _("Case opened")
    EDITED = "edited", _("Case edited")
    STATUS_CHANGED = "status_changed", _("Status changed")
    PRIORITY_OVERRIDDEN = "priority_overridden", _("Priority overridden")
    SENSITIVE_VIEWED = "sensitive_viewed", _("Sensitive details viewed")
    LINKED = "linked", _("Linked to another case")
    CONTACT_ATTEMPT = "contact_attempt", _("Crisis contact attempt")
    AREA_COMPUTED = "area_computed", _("Search area computed")
    OFFERS_MADE = "offers_made", _("Sectors offered to units")
    TASK_CHANGED = "task_changed", _("Task changed")
    SEARCH_PAUSED = "search_paused", _("Search paused or resumed")
    SIGHTING_REPORTED = "sighting_reported", _("Sighting or clue reported")
    SIGHTING_CONFIRMED = "sighting_confirmed", _("Sighting confirmed")
    FOUND_REPORTED = "found_reported", _("Person reported found")
    WITHDRAWN = "withdrawn", _("Report withdrawn")
    OUTCOME_RECORDED = "outcome_recorded", _("Outcome recorded")
    AID = "aid", _("Mutual aid")
    SUPERVISION = "supervision", _("Supervision order")
    PUBLIC_ALERT = "public_alert", _("Public alert")
    IMPORTED = "imported", _("Imported record")


class EventSource(models.TextChoices):
    WEB = "web", _("Web")
    API = "api", _("API")
    SYSTEM = "system", _("System")
    PARTNER = "partner", _("Partner city")
    PUBLIC = "public", _("Member of the public")


class ContactChannel(models.TextChoices):
    PHONE = "phone", _("Phone call")
    SMS = "sms", _("Text message")
    IN_PERSON = "in_person", _("In person")
    OTHER = "other", _("Other")


class ContactResult(models.TextChoices):
    REACHED = "reached", _("Reached the person")
    REACHED_FAMILY = "reached_family", _("Reached family")
    NO_ANSWER = "no_answer", _("No answer")
    LEFT_MESSAGE = "left_message", _("Left a message")


class Terrain(models.TextChoices):
    URBAN = "urban", _("Urban")
    RURAL = "rural", _("Rural")


class AreaReason(models.TextChoices):
    INITIAL = "initial", _("Initial")
    TIME_GROWTH = "time_growth", _("Grown with elapsed time")
    SIGHTING = "sighting", _("Re-centred on a confirmed sighting")
    MANUAL = "manual", _("Drawn by a coordinator")


class SectorStatus(models.TextChoices):
    UNASSIGNED = "unassigned", _("Unassigned")
    OFFERED = "offered", _("Offered")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    SEARCHED = "searched", _("Searched")
    NEEDS_RESEARCH = "needs_research", _("Needs re-search")


class TaskStatus(models.TextChoices):
    OFFERED = "offered", _("Offered")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Expired")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class AlertKind(models.TextChoices):
    OFFER_EXPIRED = "offer_expired", _("Offer expired")
    TASK_STALE = "task_stale", _("No activity on a task")
    NO_UNITS = "no_units", _("No unit can take a sector")
    OUTSIDE_JURISDICTION = "outside", _("Last seen outside every jurisdiction")
    TASKS_CANCELLED = "tasks_cancelled", _("Tasks cancelled by a new area")
    FOUND = "found", _("Person reported found")
    SIGHTING = "sighting", _("New sighting or clue")
    AID_PROPOSED = "aid_proposed", _("Mutual aid proposed")
    AID_UPDATE = "aid_update", _("News from a partner city")
    AID_OVERDUE = "aid_overdue", _("Partner has not answered")
    AID_UNDELIVERED = "aid_undelivered", _("Message to a partner refused")
    ORDER_OVERDUE = "order_overdue", _("Supervision order overdue")
    PUBLIC_TIP = "public_tip", _("Tip from the public")


class SightingKind(models.TextChoices):
    SIGHTING = "sighting", _("Sighting of the person")
    CLUE = "clue", _("Clue")
    FOUND = "found", _("Person found")


class FoundCondition(models.TextChoices):
    WELL = "well", _("Well")
    NEEDS_CARE = "needs_care", _("Needs care")
    INJURED = "injured", _("Injured")
    DECEASED = "deceased", _("Deceased")


class Confidence(models.TextChoices):
    """Clue quality as search-and-rescue tools grade it (shared/data/search-facts.md)."""

    CONFIRMED = "confirmed", _("Confirmed")
    PLAUSIBLE = "plausible", _("Plausible")
    POSSIBLE = "possible", _("Possible")
    UNLIKELY = "unlikely", _("Unlikely")
    REJECTED = "rejected", _("Rejected")


class AidDirection(models.TextChoices):
    OUTBOUND = "outbound", _("We asked")
    INBOUND = "inbound", _("They asked us")


class AidStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


AID_OPEN_STATUSES = (AidStatus.SENT, AidStatus.ACKNOWLEDGED, AidStatus.ACCEPTED, AidStatus.ACTIVE)
AID_FINAL_STATUSES = (AidStatus.DECLINED, AidStatus.COMPLETED, AidStatus.CANCELLED)


class AidMessageType(models.TextChoices):
    # From the city that asks:
    REQUEST = "request", _("Request for aid")
    CLOSED = "closed", _("Case closed")
    CANCELLED = "cancelled", _("Request cancelled")
    # From the city that helps:
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    ACTIVE = "active", _("Search under way")
    SIGHTING = "sighting", _("Sighting or clue")
    SECTORS_SEARCHED = "sectors_searched", _("Sectors searched")
    FOUND = "found", _("Person found")
    # Either way:
    NOTE = "note", _("Note")


# Which side may send which message: the asking city closes, the helping city cannot.
AID_TYPES_FROM_ORIGIN = frozenset({"request", "closed", "cancelled", "note", "sighting"})
AID_TYPES_FROM_HELPER = frozenset(
    {"accepted", "declined", "active", "sighting", "sectors_searched", "found", "note"}
)
# What may follow what, on both sides. The helping city moves the request to accepted,
# declined or active; the asking city ends it.
AID_TRANSITIONS: dict[str, frozenset[str]] = {
    AidMessageType.ACCEPTED: frozenset({AidStatus.SENT, AidStatus.ACKNOWLEDGED}),
    AidMessageType.DECLINED: frozenset({AidStatus.SENT, AidStatus.ACKNOWLEDGED}),
    AidMessageType.ACTIVE: frozenset({AidStatus.ACCEPTED}),
    AidMessageType.CLOSED: frozenset(AID_OPEN_STATUSES),
    AidMessageType.CANCELLED: frozenset(AID_OPEN_STATUSES),
}
# Progress reports make sense only once the partner has taken the request on.
AID_WORKING_STATUSES = (AidStatus.ACCEPTED, AidStatus.ACTIVE)
# Waiting for the partner's yes or no: the state the aid board and the escalation call overdue.
AID_AWAITING_ANSWER = (AidStatus.SENT, AidStatus.ACKNOWLEDGED)
# Sectors in these states wait in the offer queue.
WAITING_SECTOR_STATUSES = (SectorStatus.UNASSIGNED, SectorStatus.NEEDS_RESEARCH)


class OrderStatus(models.TextChoices):
    """A supervision order (督办): issued → acknowledged → answered → satisfied | re-opened."""

    ISSUED = "issued", _("Issued")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    ANSWERED = "answered", _("Answered")
    SATISFIED = "satisfied", _("Satisfied")
    REOPENED = "reopened", _("Re-opened")


# Still waiting for the addressee: these are the orders that fall overdue at their deadline.
ORDER_AWAITING_ANSWER = (OrderStatus.ISSUED, OrderStatus.ACKNOWLEDGED, OrderStatus.REOPENED)
ORDER_OPEN_STATUSES = (*ORDER_AWAITING_ANSWER, OrderStatus.ANSWERED)


class OrderAction(models.TextChoices):
    """What the addressee did, besides saying so: the state change an answer may report."""

    NONE = "", _("Nothing further")
    AREA_WIDENED = "area_widened", _("Search area widened")
    UNITS_ADDED = "units_added", _("More units sent")
    AID_REQUESTED = "aid_requested", _("Mutual aid requested")
    FAMILY_CONTACTED = "family_contacted", _("Family contacted")
    CASE_CLOSED = "case_closed", _("Case closed")


class PublicAlertStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    FOUND = "found", _("Ended: person found")
    WITHDRAWN = "withdrawn", _("Ended: withdrawn")


class CapMsgType(models.TextChoices):
    """CAP 1.2 msgType values Beacon sends (the standard's own spelling)."""

    ALERT = "Alert", "Alert"
    UPDATE = "Update", "Update"
    CANCEL = "Cancel", "Cancel"


class PublicAlertReason(models.TextChoices):
    PUBLISHED = "published", _("Published")
    UPDATED = "updated", _("Updated")
    WIDENED = "widened", _("Alert area widened")
    FOUND = "found", _("Person found")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class DraftStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    CONFIRMED = "confirmed", _("Confirmed as a case")
    DISCARDED = "discarded", _("Discarded")
