"""Forms for clerks, coordinators and field units: they validate and explain; services write."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from search import permissions
from search.choices import (
    ContactChannel,
    ContactResult,
    LocationSource,
    OrderAction,
    Outcome,
    Priority,
    SightingKind,
)
from search.geo import GeocodingError, geocode, make_point
from search.models import APPEARANCE_FIELDS, REPORT_FIELDS, Case
from search.photos import MAX_PHOTO_BYTES, clean_photo
from search.services import intake, public
from search.services.intake import check_timing
from search.validators import as_utc, normalise_phone, parse_id

GEOCODING_MESSAGES = {
    GeocodingError.NOT_FOUND: _("No place was found for this address. Pin it on the map instead."),
    GeocodingError.TIMEOUT: _(
        "The address lookup took too long. Pin the place on the map instead, or try again."
    ),
    GeocodingError.UNAVAILABLE: _(
        "The address lookup is not available right now. Pin the place on the map instead."
    ),
}


class CaseForm(forms.ModelForm):
    """The report form, for a new case and for edits."""

    latitude = forms.FloatField(
        label=_("Latitude"),
        required=False,
        min_value=-90,
        max_value=90,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    longitude = forms.FloatField(
        label=_("Longitude"),
        required=False,
        min_value=-180,
        max_value=180,
        widget=forms.NumberInput(attrs={"step": "any"}),
    )
    address = forms.CharField(
        label=_("Address or place"),
        required=False,
        max_length=300,
        help_text=_("Typed addresses are looked up; or pin the place on the map."),
    )
    confirm_outside = forms.BooleanField(
        label=_("I confirm this place is outside every known jurisdiction"), required=False
    )
    photo = forms.FileField(
        label=_("Photo"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        help_text=_("JPEG, PNG or WebP, at most 10 MB. Location data is removed."),
    )

    class Meta:
        model = Case
        fields = [*REPORT_FIELDS, "photo"]
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "last_seen_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "clothing": forms.Textarea(attrs={"rows": 2}),
            "distinguishing_marks": forms.Textarea(attrs={"rows": 2}),
            "medical_needs": forms.Textarea(attrs={"rows": 2}),
            "medication": forms.Textarea(attrs={"rows": 2}),
            "circumstances": forms.Textarea(attrs={"rows": 3}),
            "reporter_phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        }

    SECTIONS = (
        (
            _("Who is missing"),
            (
                "subject_name",
                "sex",
                "date_of_birth",
                "estimated_age",
                *APPEARANCE_FIELDS,
                "photo",
            ),
        ),
        (
            _("Risk"),
            (
                "category",
                "self_harm_risk",
                "field_notes",
                "medical_needs",
                "medication",
                "weather_exposure",
            ),
        ),
        (_("Last seen"), ("last_seen_at", "circumstances")),
        (_("Reporter"), ("reporter_name", "reporter_phone", "reporter_relation", "report_channel")),
    )
    PLACE_FIELDS = ("address", "latitude", "longitude", "confirm_outside")
    REQUIRED_HERE = ("reporter_name", "reporter_phone", "report_channel")

    def sections(self):
        """Return (title, bound fields) groups in the order the form is filled in."""
        return [
            (title, [self[name] for name in names if name in self.fields])
            for title, names in self.SECTIONS
        ]

    def place_fields(self):
        return [self[name] for name in self.PLACE_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A clerk always has someone in front of them; scripts filing through the API may not.
        for name in self.REQUIRED_HERE:
            self.fields[name].required = True
        self.fields["last_seen_at"].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        self.point = None
        self.location_source = None
        self.place = ""
        self.outside_jurisdiction = False
        self.geocoding_failed = False
        if self.instance.pk and not self.is_bound:
            point = self.instance.last_seen_point
            self.initial.update(
                latitude=point.y, longitude=point.x, address=self.instance.last_seen_place
            )

    def clean_reporter_phone(self):
        return normalise_phone(self.cleaned_data["reporter_phone"])

    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        if photo and hasattr(photo, "size"):
            clean_photo(photo)  # raises with the reason; the service stores the cleaned copy
            photo.seek(0)
        return photo

    def clean(self):
        cleaned = super().clean()
        self._clean_place(cleaned)
        last_seen_at = cleaned.get("last_seen_at")
        if last_seen_at:
            try:
                check_timing(last_seen_at=last_seen_at, date_of_birth=cleaned.get("date_of_birth"))
            except ValidationError as exc:
                self.add_error(None, exc)
        try:
            intake.check_age_source(cleaned)
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned

    def _clean_place(self, cleaned):
        lat, lon = cleaned.get("latitude"), cleaned.get("longitude")
        address = (cleaned.get("address") or "").strip()
        if "latitude" in self.errors or "longitude" in self.errors:
            return
        if (lat is None) != (lon is None):
            self.add_error("latitude", _("Give both latitude and longitude, or pin the map."))
            return
        if lat is not None:
            self.point = make_point(lon=lon, lat=lat)
            self.location_source = LocationSource.PIN
            self.place = address
        elif address:
            if self.instance.pk and address == self.instance.last_seen_place:
                self.point = self.instance.last_seen_point
                self.location_source = self.instance.location_source
                self.place = address
            else:
                try:
                    found = geocode(address)
                except GeocodingError as exc:
                    self.geocoding_failed = True
                    self.add_error("address", GEOCODING_MESSAGES[exc.reason])
                    return
                self.point, self.place = found.point, address
                self.location_source = LocationSource.GEOCODED
        else:
            self.add_error("address", _("Pin the last-seen place on the map or type its address."))
            return
        if not cleaned.get("confirm_outside") and intake.point_needs_confirming(self.point):
            self.outside_jurisdiction = True
            self.add_error(
                "confirm_outside",
                _("This place is outside every known jurisdiction. Check it, or tick to confirm."),
            )

    def service_input(self) -> "intake.CaseInput":
        """Return the cleaned report as the intake service takes it."""
        return intake.CaseInput(
            values=self.service_values(),
            photo=self.cleaned_data.get("photo"),
            confirmed_outside=bool(self.cleaned_data.get("confirm_outside")),
        )

    def service_values(self) -> dict:
        """Return the cleaned values as the intake service takes them."""
        values = {key: value for key, value in self.cleaned_data.items() if key in REPORT_FIELDS}
        values.update(
            last_seen_point=self.point,
            location_source=self.location_source,
            last_seen_place=self.place,
        )
        return values


class CaseEditForm(CaseForm):
    """The report form on an existing case. Sensitive fields are on it only for the parts the
    editor revealed (a recorded view): neither shown pre-filled nor changed otherwise."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    with_sensitive = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, revealed: set[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.revealed = set(revealed)
        for name in permissions.hidden_fields(self.revealed):
            del self.fields[name]
        self.initial.setdefault("with_sensitive", bool(self.revealed))


class DuplicateReviewForm(forms.Form):
    """The clerk's answer to "these open cases look like the same person"."""

    duplicates_reviewed = forms.BooleanField(required=False, widget=forms.HiddenInput)
    link_to = forms.TypedMultipleChoiceField(coerce=int, required=False)


class PriorityOverrideForm(forms.Form):
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Priority.choices, coerce=int)
    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=[c for c in Outcome.choices if c[0] != Outcome.WITHDRAWN]
    )
    note = forms.CharField(
        label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class CrisisContactForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=ContactChannel.choices)
    result = forms.ChoiceField(label=_("Result"), choices=ContactResult.choices)
    note = forms.CharField(
        label=_("Note"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class AidAskForm(forms.Form):
    partner = forms.ModelChoiceField(
        label=_("Partner city"),
        queryset=None,
        empty_label=None,
    )
    reason = forms.CharField(
        label=_("Why you ask"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("The partner sees this, the case summary it may receive, and your contact."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from accounts.models import Partner

        self.fields["partner"].queryset = Partner.objects.filter(is_active=True).select_related(
            "organisation"
        )


class AidReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class AidNoteForm(forms.Form):
    text = forms.CharField(
        label=_("Note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class AidAcceptForm(forms.Form):
    note = forms.CharField(
        label=_("Note to the partner"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class PauseForm(forms.Form):
    # "1" pauses, "0" resumes (a checkbox field would read "0" as ticked).
    paused = forms.TypedChoiceField(choices=[("0", "0"), ("1", "1")], coerce=lambda v: v == "1")
    reason = forms.CharField(max_length=500, required=False)


class ReassignForm(forms.Form):
    sector = forms.RegexField(regex=r"^[0-9a-f]{15}$", max_length=15)
    unit = forms.IntegerField(min_value=1, max_value=2**63 - 1)


class AreaDrawForm(forms.Form):
    # A drawn polygon of a few hundred points is a few kilobytes; this leaves room, no more.
    area = forms.CharField(max_length=200_000)
    note = forms.CharField(max_length=500, required=False)


def _public_text(key: str, label) -> forms.CharField:
    """A text the public will read, bounded as the service bounds it."""
    return forms.CharField(
        label=label,
        required=False,
        max_length=public.TEXT_LIMITS[key],
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PublicAlertForm(forms.Form):
    """What a coordinator clears for the public and the wording they approve.

    Only reads and bounds the choices; which combinations are allowed and what the texts must
    be is public.content_build's to say (its errors come back on this form).
    """

    NONE = ""
    NAME_CHOICES = [
        (NONE, _("No name")),
        ("name", _("Full name")),
        ("given_name", _("Given name only")),
    ]
    # The checkboxes, one per cleared field other than the name.
    TICKED = ("photo", "age", "sex", "height_cm", "clothing", "description", "place", "phone")
    TEXTS = ("clothing", "description", "place", "phone")

    clear_photo = forms.BooleanField(label=_("Photo"), required=False)
    name_choice = forms.ChoiceField(
        label=_("Name"), choices=NAME_CHOICES, required=False, widget=forms.RadioSelect
    )
    clear_age = forms.BooleanField(label=_("Age"), required=False)
    clear_sex = forms.BooleanField(label=_("Sex"), required=False)
    clear_height_cm = forms.BooleanField(label=_("Height"), required=False)
    clear_clothing = forms.BooleanField(label=_("Clothing"), required=False)
    clothing = _public_text("clothing", _("Clothing, as the public reads it"))
    clear_description = forms.BooleanField(label=_("Description"), required=False)
    description = _public_text("description", _("Description, as the public reads it"))
    clear_place = forms.BooleanField(label=_("Rough place and time last seen"), required=False)
    place = forms.CharField(
        label=_("Rough place"),
        required=False,
        max_length=public.TEXT_LIMITS["place"],
        help_text=_(
            "A district and a landmark, never the address or the exact spot. It starts empty on "
            "purpose: write it yourself."
        ),
    )
    clear_phone = forms.BooleanField(label=_("Phone for tips"), required=False)
    phone = forms.CharField(
        label=_("Phone the public calls"), required=False, max_length=public.TEXT_LIMITS["phone"]
    )
    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        if not case.photo:
            # Nothing to clear: the service would refuse it anyway.
            del self.fields["clear_photo"]

    @classmethod
    def initial_for(cls, *, clearance: list[str], texts: dict[str, str]) -> dict:
        """Return the form's starting values for this clearance and these texts."""
        initial: dict = {f"clear_{key}": key in clearance for key in cls.TICKED}
        initial["name_choice"] = next(
            (key for key in ("name", "given_name") if key in clearance), cls.NONE
        )
        initial.update({key: texts.get(key, "") for key in cls.TEXTS})
        return initial

    def draft(self) -> public.AlertDraft:
        """Return the coordinator's choices for the service (call after is_valid())."""
        data = self.cleaned_data
        clearance = [key for key in self.TICKED if data.get(f"clear_{key}")]
        if data.get("name_choice"):
            clearance.append(data["name_choice"])
        return public.AlertDraft(
            clearance=clearance, texts={key: data.get(key, "") for key in self.TEXTS}
        )


class PublicAlertEndForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[("found", _("Person found")), ("withdrawn", _("Withdrawn"))]
    )
    version = forms.IntegerField(min_value=1)


# --- The field app's actions (/field/actions/) --------------------------------------------------
# One form per action. They read and bound what the phone sends, nothing more: whether the
# action is allowed, and every rule about the values (coverage 0-1, an accuracy that is
# believable, a known condition, availability or confidence, a sighting time near the case),
# stays in search.services.field, whose refusals the offline outbox remembers.

NUL_REFUSED = _("Null characters are not allowed.")


def _as_sent(**kwargs) -> forms.CharField:
    """Return an optional text field that hands the value on as sent (the services strip it)."""
    return forms.CharField(required=False, strip=False, **kwargs)


class IdField(forms.IntegerField):
    """A database id as parse_id reads it: 1 to 18 ASCII digits, not zero ("²" and 2^70 are not)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        found = parse_id(value)
        if found is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return found


class NumberField(forms.FloatField):
    """A number as float() reads it, or None if not given.

    NaN and infinity get through: the bound that applies to the value (the globe, an accuracy,
    a coverage) refuses them with its own message, as it refuses any other number out of range.
    """

    def validate(self, value):
        forms.Field.validate(self, value)


class TickField(forms.Field):
    """A checkbox as sent: "on" (from a page), "true" or "1" (from a script) is ticked."""

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> bool:
        return value in ("on", "true", "1")


class PhoneTimeField(forms.Field):
    """A time as the phone's datetime-local input sends it, in UTC; not given means now.

    A time without an offset is local time; one with an offset no place has, or too near year 1
    or 9999 to be held in UTC, is refused (see search.validators.as_utc).
    """

    default_error_messages = {"invalid": _("Give the time as YYYY-MM-DDTHH:MM.")}

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def to_python(self, value) -> datetime:
        raw = (value or "").strip()
        if not raw:
            return timezone.now()
        try:
            # parse_datetime answers None for a wrong shape and raises for a right shape with
            # impossible values (month 13, hour 99, an offset of 25 hours).
            parsed = parse_datetime(raw)
            if parsed is not None and timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed)
        except (ValueError, OverflowError):
            parsed = None
        if parsed is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            return as_utc(parsed, field="moment")
        except ValidationError as exc:
            raise ValidationError(exc.error_dict["moment"]) from None


class FieldActionForm(forms.Form):
    """What every field action carries: the id made on the phone, perhaps a photo, and no NUL.

    A form for an action that is not known reads only this, so that its refusal is the same.
    """

    client_id = forms.UUIDField(
        # uuid.UUID reads the id as sent: a space around it is a wrong id, not a trimmed one.
        strip=False,
        error_messages={
            "required": _("Required: a UUID made on the phone."),
            "invalid": _("Required: a UUID made on the phone."),
        },
    )
    # Any action may come with one (the phone queues whatever its form held); only a report
    # keeps it, but an upload that is too large is refused whatever the action.
    photo = forms.FileField(required=False, allow_empty_file=True, widget=forms.FileInput)

    @cached_property
    def fields_with_nul(self) -> list[str]:
        """Return the names of the values sent that hold a NUL character, sorted."""
        # A QueryDict may hold a name twice; a plain dict (in tests) one value per name.
        if hasattr(self.data, "lists"):
            sent = self.data.lists()
        else:
            sent = ((name, [value]) for name, value in self.data.items())
        return sorted(name for name, values in sent if any("\x00" in str(v) for v in values))

    def clean_photo(self):
        photo = self.cleaned_data["photo"]
        if photo is not None and photo.size > MAX_PHOTO_BYTES:
            raise ValidationError(
                _("The photo is larger than 10 MB; send a smaller one."), code="too_large"
            )
        return photo

    def clean(self):
        cleaned = super().clean()
        # Django's fields refuse NUL only in the values they read; this refuses it in every
        # value sent, read or not, so the answer does not depend on which form the kind picks.
        if self.fields_with_nul:
            raise ValidationError(NUL_REFUSED, code="null_characters_not_allowed")
        return cleaned


class TaskActionForm(FieldActionForm):
    """An action on one task; a task id that is no id names no task (the view answers 404)."""

    task = IdField()


class UnitActionForm(FieldActionForm):
    """An action for one of the member's units: the unit named, or their first if none is."""

    unit = IdField(required=False)


class TaskAcceptForm(TaskActionForm):
    """Accept an offer: the task is all it takes."""


class TaskDeclineForm(TaskActionForm):
    reason = _as_sent()


class TaskStartForm(TaskActionForm):
    """Start an accepted task: the task is all it takes."""


class TaskFinishForm(TaskActionForm):
    coverage = NumberField(
        error_messages={"required": _("Say how much of the sector was searched.")}
    )
    note = _as_sent()
    needs_research = TickField()

    def clean_coverage(self) -> float:
        # The phone says percent; the service takes a fraction and judges its range.
        return self.cleaned_data["coverage"] / 100


class PlaceAndTimeForm(TaskActionForm):
    """A report from a task: where (lat/lon, read into `point`) and when (`seen_at`)."""

    lat = NumberField(required=False)
    lon = NumberField(required=False)
    seen_at = PhoneTimeField()

    def clean(self):
        cleaned = super().clean()
        lat, lon = cleaned.get("lat"), cleaned.get("lon")
        if "lat" in self.errors or "lon" in self.errors:
            return cleaned
        if lat is None or lon is None:
            self.add_error("lat", _("Give the place: use the phone's position or tap the map."))
            return cleaned
        try:
            cleaned["point"] = make_point(lon=lon, lat=lat)
        except ValueError:
            self.add_error("lat", _("A position has latitude -90..90 and longitude -180..180."))
        return cleaned


class ReportKindSelect(forms.Select):
    """A select that reads as a clue when the phone sends no kind at all (not when it sends "")."""

    def value_from_datadict(self, data, files, name):
        return data.get(name, SightingKind.CLUE)


class SightingReportForm(PlaceAndTimeForm):
    report_kind = forms.ChoiceField(
        choices=[
            (kind, label)
            for kind, label in SightingKind.choices
            if kind in (SightingKind.SIGHTING, SightingKind.CLUE)
        ],
        widget=ReportKindSelect,
        error_messages={
            "required": _("Choose sighting or clue."),
            "invalid_choice": _("Choose sighting or clue."),
        },
    )
    description = _as_sent()
    # Not given means "possible"; any other value is the service's to judge.
    confidence = _as_sent(empty_value="possible")


class FoundReportForm(PlaceAndTimeForm):
    condition = _as_sent()
    with_whom = _as_sent()
    description = _as_sent()


class PositionShareForm(UnitActionForm):
    lat = NumberField(required=False)
    lon = NumberField(required=False)
    accuracy = NumberField(required=False)

    def clean(self):
        cleaned = super().clean()
        if "lat" in self.errors or "lon" in self.errors:
            return cleaned
        if cleaned.get("lat") is None or cleaned.get("lon") is None:
            self.add_error("lat", _("No position."))
        return cleaned


class AvailabilityForm(UnitActionForm):
    availability = _as_sent()


# Supervision orders (督办). The services judge desks, people and deadlines; the forms only
# read what was sent and offer the choices the issuer has.
class OrderVersionForm(forms.Form):
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class OrderIssueForm(forms.Form):
    instruction = forms.CharField(
        label=_("What must be done"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    deadline = forms.DateTimeField(
        label=_("Deadline"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    desk = forms.ModelChoiceField(label=_("Addressed to desk"), queryset=None)
    person = forms.ModelChoiceField(
        label=_("Addressed to a person (optional)"), queryset=None, required=False
    )
    aid_request = forms.ModelChoiceField(
        label=_("About the mutual-aid request (optional)"), queryset=None, required=False
    )

    def __init__(self, *args, desks, people, aid_requests, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["desk"].queryset = desks
        self.fields["person"].queryset = people
        self.fields["person"].label_from_instance = lambda u: (
            f"{u.get_full_name() or u.username} · {u.organisation}"
        )
        self.fields["aid_request"].queryset = aid_requests
        self.fields["aid_request"].label_from_instance = lambda r: (
            f"{r.partner} · {r.get_status_display()}"
        )


class OrderAnswerForm(OrderVersionForm):
    answer = forms.CharField(
        label=_("Answer"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    action = forms.ChoiceField(label=_("Done"), choices=OrderAction.choices, required=False)


class OrderReopenForm(OrderVersionForm):
    reason = forms.CharField(
        label=_("Why it is not done"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    deadline = forms.DateTimeField(
        label=_("New deadline"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )


# --- The supervisors' figures (/supervision/) ---------------------------------------------------

FIGURES_DEFAULT_DAYS = 30
FIGURES_MAX_YEARS = 10
# Local midnights of these dates must convert to UTC and back: the database cannot hold year 0.
FIGURES_EARLIEST_DATE = date(1900, 1, 1)
FIGURES_LATEST_DATE = date(2999, 12, 31)


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


class FiguresForm(forms.Form):
    """The period (local dates, the end day included) and the organisation of the figures.

    Always bound: what the address leaves out takes its default (the last 30 days ending today,
    the user's own desk), so the page opens with figures and a bad value is an error, not a
    silent default."""

    start = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        label=_("To (included)"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    org = forms.TypedChoiceField(
        label=_("Organisation"),
        coerce=int,
        error_messages={
            "invalid_choice": _(
                "You may see the figures of your own organisation and those below it only."
            )
        },
        help_text=_("Its figures include every organisation below it."),
    )

    def __init__(self, query, *, organisations, default_org, today: date):
        defaults = {
            "start": (today - timedelta(days=FIGURES_DEFAULT_DAYS - 1)).isoformat(),
            "end": today.isoformat(),
            "org": str(default_org.pk),
        }
        super().__init__({name: query.get(name) or value for name, value in defaults.items()})
        self.fields["org"].choices = [(o.pk, str(o)) for o in organisations]

    def _bounded(self, name: str) -> date:
        day = self.cleaned_data[name]
        if not FIGURES_EARLIEST_DATE <= day <= FIGURES_LATEST_DATE:
            raise ValidationError(_("Give a date between 1900 and 2999."), code="range")
        return day

    def clean_start(self) -> date:
        return self._bounded("start")

    def clean_end(self) -> date:
        return self._bounded("end")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None or end is None:
            return cleaned
        if end < start:
            self.add_error("end", _("The end date is before the start date."))
        elif end >= _years_after(start, FIGURES_MAX_YEARS):
            self.add_error(
                "end",
                _("The period is longer than %(years)d years; choose a shorter one.")
                % {"years": FIGURES_MAX_YEARS},
            )
        return cleaned

    def period(self, tz) -> tuple[datetime, datetime]:
        """Return [start, end) as aware datetimes: local midnight of the first day to local
        midnight after the last."""
        start = datetime.combine(self.cleaned_data["start"], time.min, tzinfo=tz)
        end = datetime.combine(self.cleaned_data["end"] + timedelta(days=1), time.min, tzinfo=tz)
        return start, end


def _coordinate_field(label, limit: int, message) -> forms.FloatField:
    """An optional coordinate between -limit and limit, refused with one message either side."""
    return forms.FloatField(
        label=label,
        required=False,
        min_value=-limit,
        max_value=limit,
        error_messages={"min_value": message, "max_value": message},
    )


class TipForm(forms.Form):
    """A tip from the public page: when, where, what; a photo and a phone if they want."""

    seen_at = forms.DateTimeField(
        label=_("When did you see them?"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    place = forms.CharField(
        label=_("Where? (street, landmark, station)"), max_length=200, required=False
    )
    lat = _coordinate_field(_("Latitude"), 90, _("The latitude must be between -90 and 90."))
    lon = _coordinate_field(_("Longitude"), 180, _("The longitude must be between -180 and 180."))
    description = forms.CharField(
        label=_("What did you see?"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    photo = forms.FileField(label=_("Photo (optional)"), required=False)
    phone = forms.CharField(
        label=_("Your phone (optional, so we can call you back)"), max_length=32, required=False
    )
    # A field people never see (hidden by the style sheet); a bot filling every field fills it.
    website = forms.CharField(required=False, label=_("Leave this empty"))

    def clean_photo(self):
        photo = self.cleaned_data["photo"]
        if photo is not None and photo.size > MAX_PHOTO_BYTES:
            raise ValidationError(
                _("The photo is larger than 10 MB; send a smaller one."), code="too_large"
            )
        return photo

    def clean(self):
        cleaned = super().clean()
        if any("\x00" in str(v) for v in self.data.values()):
            raise ValidationError(NUL_REFUSED, code="null_characters_not_allowed")
        lat, lon = cleaned.get("lat"), cleaned.get("lon")
        if (
            (lat is None) != (lon is None)
            and not self.has_error("lat")
            and not self.has_error("lon")
        ):
            raise ValidationError(_("Give both the latitude and the longitude, or neither."))
        if (
            lat is None
            and lon is None
            and not cleaned.get("place")
            and not (self.has_error("lat") or self.has_error("lon"))
        ):
            raise ValidationError(
                _("Say where: tap the map, use your position, or name the place."),
                code="no_place",
            )
        return cleaned


class PfifUploadForm(forms.Form):
    document = forms.FileField(
        label=_("PFIF document"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xml,application/xml,text/xml"}),
        help_text=_("PFIF 1.2, 1.3 or 1.4 XML from another person registry, at most 5 MB."),
    )
    source = forms.CharField(
        label=_("Registry name"),
        max_length=200,
        required=False,
        help_text=_("Kept with each person whose record does not name its source."),
    )

    def clean_document(self):
        from search.pfif import MAX_DOCUMENT_BYTES

        document = self.cleaned_data["document"]
        # Checked before reading: the file is never loaded whole if it is too large.
        if document.size > MAX_DOCUMENT_BYTES:
            raise ValidationError(
                _("The document is larger than %(mb)d MB.") % {"mb": MAX_DOCUMENT_BYTES // 2**20}
            )
        return document


class DraftConfirmForm(CaseForm):
    """The report form over an imported draft: what the registry said comes pre-filled, the
    clerk adds what a case needs (category, last seen where and when, reporter)."""

    version = forms.IntegerField(widget=forms.HiddenInput)
