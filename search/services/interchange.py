"""PFIF in and out: other registries' persons become drafts, a confirmed draft becomes a case
through intake, and a case goes out as a PFIF 1.4 person limited to its public clearance.

An import dispatches nothing: a draft has no last-seen place or time. Confirming it opens the
case through `intake.case_open`, so triage, the checks and dispatch are those of any report.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts.models import Organisation
from accounts.selectors import organisation_tree_ids
from search import permissions
from search.choices import (
    Confidence,
    DraftStatus,
    EventKind,
    FoundCondition,
    Outcome,
    ReportChannel,
    Sex,
    SightingKind,
)
from search.models import Case, CaseEvent, DraftReport, PublicAlert, Sighting
from search.pfif import (
    PfifDocument,
    PfifNote,
    PfifPerson,
    parse_pfif_time,
    pfif_document,
    pfif_parse,
    pfif_time,
)
from search.selectors import public_content_of
from search.services import intake
from search.services.timeline import Origin, event_record

# The draft's text fields and their limits, checked before saving so that the clerk reads which
# person was too long rather than a database error.
_LIMITS: dict[str, int] = {
    f.name: f.max_length
    for f in DraftReport._meta.concrete_fields
    if isinstance(f, models.CharField | models.TextField) and f.max_length
}
_HOME_PARTS = (
    "home_street",
    "home_neighborhood",
    "home_city",
    "home_state",
    "home_postal_code",
    "home_country",
)
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    skipped: int
    # (person_record_id, why) for each person skipped.
    skipped_records: list[tuple[str, str]] = field(default_factory=list)
    # Top-level notes about a person neither in the document nor among the drafts.
    notes_unmatched: int = 0


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError({"document": message}, code=code)


def _draft_values(person: PfifPerson, *, source_label: str) -> dict[str, Any]:
    """Return the draft's fields for a PFIF person."""
    return {
        "source_name": person.source_name or source_label,
        "source_url": person.source_url,
        "source_date": parse_pfif_time(person.source_date),
        "full_name": person.full_name,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "alternate_names": person.alternate_names,
        # PFIF's "other" has no Beacon match: unknown, which the clerk may correct.
        "sex": person.sex if person.sex in (Sex.FEMALE, Sex.MALE) else Sex.UNKNOWN,
        "date_of_birth_text": person.date_of_birth,
        "age": person.age,
        "description": person.description,
        "home_address": ", ".join(
            getattr(person, part) for part in _HOME_PARTS if getattr(person, part)
        ),
        "photo_url": person.photo_url,
        "author_name": person.author_name,
        "author_phone": person.author_phone,
        "author_email": person.author_email,
    }


def _check_lengths(values: dict[str, Any], *, where: str) -> None:
    for name, limit in _LIMITS.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise _refuse(
                _("%(person)s: %(field)s is longer than %(limit)d characters.")
                % {"person": where, "field": name, "limit": limit},
                "too_long",
            )


def _merged_notes(old: list[dict], new: list[PfifNote]) -> list[dict]:
    """Return the notes with the new ones added; a note sent again replaces its old copy."""
    notes = {note["note_record_id"]: note for note in old}
    for note in new:
        notes[note.note_record_id] = note.as_dict()
    return list(notes.values())


def _reference(draft: DraftReport) -> str:
    # A confirmed draft always names its case (a check constraint says so).
    return draft.case.reference if draft.case else ""


def _check_importer(actor: Any, organisation: Organisation) -> None:
    if not permissions.can_file_cases(actor):
        raise PermissionDenied(_("Only intake clerks and coordinators may import records."))
    if organisation.pk not in organisation_tree_ids(getattr(actor, "organisation", None)):
        raise PermissionDenied(_("You may import records only for your own organisation."))


@transaction.atomic
def pfif_import(
    *, origin: Origin, organisation: Organisation, data: bytes, source_label: str = ""
) -> ImportResult:
    """Store each person of a PFIF document as a draft of the organisation, all or nothing.

    A person whose record id the organisation already has updates that draft (its notes
    merged), unless the draft was confirmed into a case or discarded: then it is skipped.
    """
    _check_importer(origin.actor, organisation)
    document: PfifDocument = pfif_parse(data)
    record_ids = {p.person_record_id for p in document.persons} | {
        n.person_record_id for n in document.unmatched_notes
    }
    existing = {
        draft.person_record_id: draft
        for draft in DraftReport.objects.select_for_update(of=("self",))
        .select_related("case")
        .filter(organisation=organisation, person_record_id__in=record_ids)
    }
    created = updated = 0
    skipped: list[tuple[str, str]] = []
    for index, person in enumerate(document.persons, start=1):
        record_id = person.person_record_id
        values = _draft_values(person, source_label=source_label.strip())
        where = _("Person %(index)d (%(id)s)") % {"index": index, "id": record_id}
        _check_lengths({**values, "person_record_id": record_id}, where=where)
        draft = existing.get(record_id)
        if draft is None:
            draft = DraftReport(
                organisation=organisation,
                person_record_id=record_id,
                created_by=origin.actor,
                notes=_merged_notes([], person.notes),
                **values,
            )
            try:
                # A savepoint: a concurrent import of the same id must not poison this one.
                with transaction.atomic():
                    draft.save(force_insert=True)
            except IntegrityError as exc:
                raise _refuse(
                    _("Another import of %(id)s is running; try again in a moment.")
                    % {"id": record_id},
                    "concurrent",
                ) from exc
            existing[record_id] = draft
            created += 1
        elif draft.status == DraftStatus.CONFIRMED:
            skipped.append(
                (record_id, _("already confirmed as case %(ref)s") % {"ref": _reference(draft)})
            )
        elif draft.status == DraftStatus.DISCARDED:
            skipped.append((record_id, _("discarded earlier")))
        else:
            for name, value in values.items():
                setattr(draft, name, value)
            draft.notes = _merged_notes(draft.notes, person.notes)
            draft.version = F("version") + 1
            draft.save()
            draft.refresh_from_db(fields=["version"])
            updated += 1
    unmatched = 0
    for note in document.unmatched_notes:
        draft = existing.get(note.person_record_id)
        if draft is None or draft.status != DraftStatus.DRAFT:
            unmatched += 1
            continue
        draft.notes = _merged_notes(draft.notes, [note])
        draft.version = F("version") + 1
        draft.save(update_fields=["notes", "version", "updated_at"])
        draft.refresh_from_db(fields=["version"])
    return ImportResult(
        created=created,
        updated=updated,
        skipped=len(skipped),
        skipped_records=skipped,
        notes_unmatched=unmatched,
    )


def draft_birth_date(draft: DraftReport) -> date | None:
    """Return the draft's date of birth if the registry gave a whole, real date."""
    if not _FULL_DATE.match(draft.date_of_birth_text):
        return None
    try:
        return date.fromisoformat(draft.date_of_birth_text)
    except ValueError:
        return None


def draft_case_values(draft: DraftReport) -> dict[str, Any]:
    """Return what the draft already says of the report, as intake takes it."""
    born = draft_birth_date(draft)
    return {
        "subject_name": draft.full_name,
        "sex": draft.sex,
        "date_of_birth": born,
        # Intake takes a date of birth or an estimate, not both.
        "estimated_age": None if born else draft.estimated_age,
        "circumstances": draft.description,
        "reporter_name": draft.author_name,
        "report_channel": ReportChannel.REFERRAL,
    }


def _locked_draft(actor: Any, draft: DraftReport) -> DraftReport:
    if not permissions.can_file_cases(actor):
        raise PermissionDenied(_("Only intake clerks and coordinators may confirm drafts."))
    current = (
        DraftReport.objects.select_for_update(of=("self",)).select_related("case").get(pk=draft.pk)
    )
    if current.organisation_id not in organisation_tree_ids(actor.organisation):
        raise PermissionDenied(_("This draft belongs to another organisation."))
    if current.status == DraftStatus.CONFIRMED:
        raise ValidationError(
            _("This draft was already confirmed as case %(ref)s.") % {"ref": _reference(current)},
            code="confirmed",
        )
    if current.status == DraftStatus.DISCARDED:
        raise ValidationError(_("This draft was discarded."), code="discarded")
    return current


def _check_version(current: DraftReport, expected_version: int | None) -> None:
    if expected_version is not None and current.version != expected_version:
        raise ValidationError(
            _("The draft was updated by a new import since you opened it: check it again."),
            code="stale",
        )


@transaction.atomic
def draft_confirm(
    *,
    origin: Origin,
    draft: DraftReport,
    values: dict[str, Any],
    confirmed_outside: bool = False,
    link_to: list[Case] | None = None,
    expected_version: int | None = None,
    photo: Any = None,
) -> Case:
    """Open a case from the draft and the report fields the clerk added (category, last seen
    time and point...), through intake; the draft's notes go on the case's timeline."""
    current = _locked_draft(origin.actor, draft)
    _check_version(current, expected_version)
    case = intake.case_open(
        origin=origin,
        data=intake.CaseInput(
            values={**draft_case_values(current), **values},
            photo=photo,
            confirmed_outside=confirmed_outside,
        ),
        link_to=link_to,
    )
    notes = sorted(current.notes, key=lambda n: (n.get("source_date", ""), n["note_record_id"]))
    for note in notes:
        event_record(
            case=case,
            kind=EventKind.IMPORTED,
            origin=origin,
            data={
                "registry": current.source_name,
                "person_record_id": current.person_record_id,
                "note_record_id": note["note_record_id"],
                "author": note.get("author_name", ""),
                "date": note.get("source_date", ""),
                "status": note.get("status", ""),
                "text": note.get("text", ""),
            },
        )
    DraftReport.objects.filter(pk=current.pk).update(
        status=DraftStatus.CONFIRMED, case=case, version=F("version") + 1
    )
    return case


@transaction.atomic
def draft_discard(
    *, origin: Origin, draft: DraftReport, expected_version: int | None = None
) -> DraftReport:
    """Set the draft aside: it opens no case, and a later import of it is skipped."""
    current = _locked_draft(origin.actor, draft)
    _check_version(current, expected_version)
    DraftReport.objects.filter(pk=current.pk).update(
        status=DraftStatus.DISCARDED, version=F("version") + 1
    )
    current.refresh_from_db()
    return current


# --- Export ----------------------------------------------------------------------------------

# Case events that say where the person stands, as PFIF note statuses. The text is fixed
# English: a registry's reader may not read the centre's language, and it must say nothing
# but the change itself.
_OUTCOME_STATUS = {
    Outcome.FOUND_WELL: "believed_alive",
    Outcome.FOUND_NEEDS_CARE: "believed_alive",
    Outcome.FOUND_INJURED: "believed_alive",
    Outcome.RETURNED: "believed_alive",
    Outcome.FOUND_DECEASED: "believed_dead",
    Outcome.NOT_FOUND: "believed_missing",
}
_OUTCOME_TEXT = {
    Outcome.FOUND_WELL: "Found well.",
    Outcome.FOUND_NEEDS_CARE: "Found, needs care.",
    Outcome.FOUND_INJURED: "Found injured.",
    Outcome.FOUND_DECEASED: "Found deceased.",
    Outcome.RETURNED: "Returned by themselves.",
    Outcome.NOT_FOUND: "Search suspended, not found.",
    Outcome.WITHDRAWN: "Report withdrawn.",
}
_SIGHTING_TEXT: dict[str, str] = {
    SightingKind.SIGHTING: "Sighting of the person",
    SightingKind.CLUE: "Clue",
}
_STATUS_KINDS = (
    EventKind.CREATED,
    EventKind.FOUND_REPORTED,
    EventKind.OUTCOME_RECORDED,
    EventKind.WITHDRAWN,
)
_AGE = re.compile(r"^\d{1,3}(-\d{1,3})?$")
# About a kilometre: where, roughly, and never the pin itself.
_ROUGH_DECIMALS = 2


def _record_id(case: Case, suffix: str = "") -> str:
    return f"{settings.PFIF_DOMAIN}/{case.reference}{suffix}"


def _public_person_fields(content: dict) -> dict[str, str]:
    """Return the person's PFIF fields that the clearance allows."""
    fields: dict[str, str] = {}
    if content.get("name"):
        fields["full_name"] = str(content["name"])
    if content.get("sex") in (Sex.FEMALE, Sex.MALE):
        fields["sex"] = content["sex"]
    if content.get("age") is not None and _AGE.match(str(content["age"])):
        fields["age"] = str(content["age"])
    parts = [str(content["description"]).strip()] if content.get("description") else []
    if content.get("clothing"):
        parts.append(f"Clothing: {str(content['clothing']).strip()}")
    if content.get("height_cm"):
        parts.append(f"Height: {content['height_cm']} cm")
    if parts:
        fields["description"] = "\n".join(parts)
    if content.get("phone"):
        fields["author_phone"] = str(content["phone"])
    return fields


def _missing_text(content: dict) -> str:
    text = "Reported missing."
    if content.get("seen_at"):
        text += f" Last seen {content['seen_at']}"
        text += f" near {content['place']}." if content.get("place") else "."
    return text


def _status_note(case: Case, event: CaseEvent, content: dict) -> PfifNote:
    status, text = "", ""
    if event.kind == EventKind.CREATED:
        status, text = "believed_missing", _missing_text(content)
    elif event.kind == EventKind.FOUND_REPORTED:
        dead = event.data.get("condition") == FoundCondition.DECEASED
        status = "believed_dead" if dead else "believed_alive"
        text = "Reported found."
    else:
        outcome = event.data.get("outcome") or Outcome.WITHDRAWN
        status = _OUTCOME_STATUS.get(outcome, "")
        text = "Case closed: " + _OUTCOME_TEXT.get(outcome, "ended.")
    return PfifNote(
        note_record_id=_record_id(case, f".event-{event.seq}"),
        person_record_id=_record_id(case),
        entry_date=pfif_time(event.created_at),
        author_name=case.organisation.name,
        source_date=pfif_time(event.created_at),
        status=status,
        text=text,
    )


def _sighting_note(case: Case, sighting: Sighting, content: dict) -> PfifNote:
    text = f"{_SIGHTING_TEXT[sighting.kind]}, seen {pfif_time(sighting.seen_at)}"
    rough = ""
    if content.get("place"):
        rough = (
            f"about {round(sighting.point.y, _ROUGH_DECIMALS):.2f}, "
            f"{round(sighting.point.x, _ROUGH_DECIMALS):.2f}"
        )
        text += f", {rough}"
    return PfifNote(
        note_record_id=_record_id(case, f".sighting-{sighting.pk}"),
        person_record_id=_record_id(case),
        entry_date=pfif_time(sighting.created_at),
        author_name=case.organisation.name,
        source_date=pfif_time(sighting.seen_at),
        last_known_location=rough,
        text=text + ".",
    )


def case_pfif_person(case: Case, *, base_url: str = "") -> PfifPerson:
    """Return the case as one PFIF person with its notes, limited to its public clearance.

    Without a clearance the name is the case reference and only status changes go out. With
    one, the cleared name, sex, age and description, and the sightings and clues (kind, time,
    rough place only: never who reported them, medical or crisis detail, or the pin).
    """
    content = public_content_of(case)
    person = PfifPerson(
        person_record_id=_record_id(case),
        entry_date=pfif_time(case.created_at),
        author_name=case.organisation.name,
        source_name=case.organisation.name,
        source_date=pfif_time(case.created_at),
        full_name=case.reference,
    )
    for name, value in _public_person_fields(content).items():
        setattr(person, name, value)
    # The photo as the public sees it, while a live alert shows it: never the case's own file.
    live = PublicAlert.objects.active().filter(case=case).exclude(photo="").first()
    if base_url and live is not None and "photo" in live.clearance:
        person.photo_url = f"{base_url}{reverse('public_alert_photo', args=[live.identifier])}"
    events = case.events.filter(kind__in=_STATUS_KINDS).order_by("seq")
    notes = [(e.created_at, _status_note(case, e, content)) for e in events]
    if content:
        sightings = (
            case.sightings.filter(kind__in=list(_SIGHTING_TEXT))
            .exclude(confidence=Confidence.REJECTED)
            # A tip from the public is not known to be true until a coordinator confirms it.
            .exclude(public_alert__isnull=False, confirmed_at__isnull=True)
            .order_by("seen_at", "pk")
        )
        notes += [(s.seen_at, _sighting_note(case, s, content)) for s in sightings]
    person.notes = [note for _at, note in sorted(notes, key=lambda pair: pair[0])]
    return person


def case_pfif(case: Case, *, base_url: str = "") -> bytes:
    """Return the case as a PFIF 1.4 document (see case_pfif_person); base_url makes the
    public photo's address absolute."""
    return pfif_document([case_pfif_person(case, base_url=base_url)])
