"""Input checks shared by the forms and the API."""

import json
import re
from datetime import UTC, date, datetime, time, timedelta

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

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


# Every time a person or a partner gives is bounded before it reaches the database: a year-1
# time with an offset reads back as year 0, which Python cannot hold, and one such row would
# break every page that reads it. The database refuses anything before EARLIEST_TIME as well.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
# A clock on a phone, a PC or a partner's server may run a little fast.
CLOCK_SKEW = timedelta(minutes=5)
# The oldest person we search for, as the estimated age allows.
MAX_AGE_YEARS = 120
# A report about someone last seen longer ago than this is an archive matter, not a search.
MAX_LAST_SEEN_YEARS = 50
# A sighting or clue from before the last-seen time still helps (a camera's earlier footage),
# but not from long before it.
SIGHTING_LEAD = timedelta(days=7)


# Clocks on Earth run from UTC-12 to UTC+14; PostgreSQL refuses offsets past about 16 hours.
MAX_UTC_OFFSET = timedelta(hours=14)


def _refusal(field: str, message: str, code: str) -> ValidationError:
    # A code given beside a dict of errors is dropped: it must sit on each error.
    return ValidationError({field: ValidationError(message, code=code)})


def as_utc(moment: datetime, *, field: str) -> datetime:
    """Return the aware time in UTC, or raise ValidationError if its offset is no real place's."""
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        message = _("The time zone offset is out of range (UTC-12 to UTC+14).")
        raise _refusal(field, message, "offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # Year 1 east of Greenwich, or year 9999 west of it.
        raise _refusal(field, _("Give a time between 1900 and 3000."), "range") from None


def years_before(moment: datetime, years: int) -> datetime:
    """Return the same moment that many years earlier (29 February falls to the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def check_moment(
    value: datetime, *, field: str, earliest: datetime, now: datetime | None = None
) -> None:
    """Raise ValidationError naming the field if the time is in the future or too early."""
    now = now or timezone.now()
    if value > now + CLOCK_SKEW:
        raise _refusal(field, _("This time is in the future."), "future")
    earliest = max(earliest, EARLIEST_TIME)
    if value < earliest:
        raise _refusal(
            field,
            _("This time is too long ago: give a time after %(earliest)s.")
            % {"earliest": timezone.localtime(earliest).strftime("%Y-%m-%d %H:%M")},
            "too_early",
        )


def check_birth_date(value: date, *, field: str = "date_of_birth", today: date | None = None):
    """Raise ValidationError if the date of birth is in the future or over MAX_AGE_YEARS ago."""
    today = today or timezone.localdate()
    if value > today:
        raise _refusal(field, _("The date of birth is in the future."), "future")
    if value < years_before(datetime.combine(today, time()), MAX_AGE_YEARS).date():
        raise _refusal(
            field,
            _("The date of birth is more than %(years)d years ago.") % {"years": MAX_AGE_YEARS},
            "too_early",
        )


def check_sighting_time(value: datetime, *, last_seen_at: datetime, field: str = "seen_at"):
    """Raise ValidationError unless the time is between shortly before last seen and now."""
    check_moment(value, field=field, earliest=last_seen_at - SIGHTING_LEAD)


# Ids in URLs and forms are database bigints: at most 18 ASCII digits, so that neither "²" (a
# digit to str.isdigit, not to int) nor 2^70 reaches a query.
ID_PATTERN = re.compile(r"[0-9]{1,18}")


def parse_id(raw) -> int | None:
    """Return the positive id the text gives, or None if it is not one."""
    if not isinstance(raw, str) or not ID_PATTERN.fullmatch(raw.strip()):
        return None
    value = int(raw.strip())
    return value or None


# Nothing Beacon takes nests deeper than a MultiPolygon (five levels) inside a message (three):
# deeper JSON is refused before any code walks it, so recursion cannot blow the stack.
MAX_JSON_DEPTH = 32


def json_parse(raw: str | bytes):
    """Return the parsed JSON, or raise ValueError if it is not JSON or nests too deep."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _refuse_nul(item)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, dict):
            for key in item:
                _refuse_nul(key)
        for child in item.values() if isinstance(item, dict) else item:
            stack.append((child, depth + 1))
    return value


def _refuse_nul(text: str) -> None:
    # PostgreSQL stores no NUL character in text or jsonb: refused here, not as a 500 there.
    if "\x00" in text:
        raise ValueError("a string holds a NUL character (\\u0000)")
