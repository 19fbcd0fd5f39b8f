"""Input checks shared by the forms and the API."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

PHONE_REGION = "CN"


def normalise_phone(raw: str) -> str:
    """Return the number in E.164 form, or raise ValidationError if it cannot be a phone number."""
    try:
        number = phonenumbers.parse(raw, PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("This is not a phone number. Example: 138 0013 8000 or +86 10 1234 5678."),
            code="phone",
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("This phone number cannot be dialled. Example: 138 0013 8000 or +86 10 1234 5678."),
            code="phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
