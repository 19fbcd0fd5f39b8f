"""Forms for clerks and coordinators: they validate and explain; services do the writing."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from search import permissions
from search.choices import (
    ContactChannel,
    ContactResult,
    LocationSource,
    Outcome,
    Priority,
)
from search.geo import GeocodingError, geocode, make_point
from search.models import APPEARANCE_FIELDS, REPORT_FIELDS, Case
from search.photos import clean_photo
from search.services import intake
from search.services.intake import check_timing
from search.validators import normalise_phone

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
