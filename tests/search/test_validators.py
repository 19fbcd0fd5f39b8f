"""The bounds on what anyone sends, at their edges (search/validators.py)."""

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.core.exceptions import ValidationError

from search import validators as v

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def refused(call, *args, **kwargs) -> dict:
    with pytest.raises(ValidationError) as info:
        call(*args, **kwargs)
    return info.value.message_dict


def test_a_time_at_the_clock_skew_passes_and_a_second_more_is_the_future():
    v.check_moment(NOW + v.CLOCK_SKEW, field="t", earliest=v.EARLIEST_TIME, now=NOW)
    errors = refused(
        v.check_moment, NOW + v.CLOCK_SKEW + timedelta(seconds=1),
        field="t", earliest=v.EARLIEST_TIME, now=NOW,
    )  # fmt: skip
    assert errors == {"t": ["This time is in the future."]}


def test_the_earliest_time_passes_and_a_moment_before_it_is_too_early():
    earliest = NOW - timedelta(days=1)
    v.check_moment(earliest, field="t", earliest=earliest, now=NOW)
    errors = refused(
        v.check_moment, earliest - timedelta(microseconds=1), field="t", earliest=earliest, now=NOW
    )
    assert "too long ago" in errors["t"][0]


def test_nothing_before_1900_passes_whatever_the_earliest_asked():
    v.check_moment(v.EARLIEST_TIME, field="t", earliest=datetime(1, 1, 1, tzinfo=UTC), now=NOW)
    refused(
        v.check_moment, v.EARLIEST_TIME - timedelta(seconds=1),
        field="t", earliest=datetime(1, 1, 1, tzinfo=UTC), now=NOW,
    )  # fmt: skip


def test_years_before_keeps_the_day_and_falls_back_on_29_february():
    assert v.years_before(NOW, 50) == NOW.replace(year=1976)
    leap = datetime(2024, 2, 29, 8, tzinfo=UTC)
    assert v.years_before(leap, 1) == datetime(2023, 2, 28, 8, tzinfo=UTC)
    assert v.years_before(leap, 4) == datetime(2020, 2, 29, 8, tzinfo=UTC)


def test_a_birth_today_passes_tomorrow_does_not():
    today = date(2026, 11, 24)
    v.check_birth_date(today, today=today)
    assert refused(v.check_birth_date, today + timedelta(days=1), today=today) == {
        "date_of_birth": ["The date of birth is in the future."]
    }


def test_a_birth_exactly_120_years_ago_passes_a_day_earlier_does_not():
    today = date(2026, 11, 24)
    v.check_birth_date(date(1906, 11, 24), today=today)
    errors = refused(v.check_birth_date, date(1906, 11, 23), today=today, field="dob")
    assert errors == {"dob": ["The date of birth is more than 120 years ago."]}


def test_a_sighting_a_week_before_the_last_sighting_passes_a_second_more_does_not():
    last_seen = datetime.now(UTC) - timedelta(hours=1)
    v.check_sighting_time(last_seen - v.SIGHTING_LEAD, last_seen_at=last_seen)
    errors = refused(
        v.check_sighting_time, last_seen - v.SIGHTING_LEAD - timedelta(seconds=1),
        last_seen_at=last_seen,
    )  # fmt: skip
    assert "too long ago" in errors["seen_at"][0]
    assert timedelta(days=7) == v.SIGHTING_LEAD


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(14 * 60, True), (-14 * 60, True), (14 * 60 + 1, False), (-(14 * 60 + 1), False)],
)
def test_utc_offsets_run_from_minus_to_plus_fourteen_hours(offset, ok):
    moment = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(minutes=offset)))
    if ok:
        assert v.as_utc(moment, field="t") == moment
        assert v.as_utc(moment, field="t").utcoffset() == timedelta(0)
    else:
        assert "offset" in refused(v.as_utc, moment, field="t")["t"][0]


def test_a_year_one_time_east_of_greenwich_is_refused_not_an_overflow():
    moment = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8)))
    assert "between 1900 and 3000" in refused(v.as_utc, moment, field="t")["t"][0]


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("1", 1),
        (" 42 ", 42),
        ("9" * 18, int("9" * 18)),
        ("9" * 19, None),
        ("0", None),
        ("-1", None),
        ("²", None),
        ("٣", None),
        ("1.0", None),
        ("", None),
        (None, None),
        (5, None),
    ],
)
def test_ids_are_up_to_eighteen_ascii_digits(raw, parsed):
    assert v.parse_id(raw) == parsed


def test_json_nested_to_the_limit_passes_and_one_level_more_does_not():
    at_limit = "[" * v.MAX_JSON_DEPTH + "]" * v.MAX_JSON_DEPTH
    assert v.json_parse(at_limit) == json.loads(at_limit)
    deeper = "[" * (v.MAX_JSON_DEPTH + 1) + "]" * (v.MAX_JSON_DEPTH + 1)
    with pytest.raises(ValueError, match="nested deeper than 32"):
        v.json_parse(deeper)
    objects = '{"a":' * (v.MAX_JSON_DEPTH + 1) + "1" + "}" * (v.MAX_JSON_DEPTH + 1)
    with pytest.raises(ValueError, match="nested"):
        v.json_parse(objects)


@pytest.mark.parametrize(
    "raw", ['"a\\u0000b"', '{"a\\u0000": 1}', '[1, ["x\\u0000"]]', '{"k": {"k": "\\u0000"}}']
)
def test_json_with_a_nul_anywhere_is_refused(raw):
    with pytest.raises(ValueError, match="NUL"):
        v.json_parse(raw)


@pytest.mark.parametrize("raw", ["", "{", "nan-not-json", b"\xff\xfe"])
def test_what_is_not_json_is_a_value_error(raw):
    with pytest.raises(ValueError):
        v.json_parse(raw)


def test_plain_json_comes_back_as_it_was():
    assert v.json_parse('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert v.json_parse("3") == 3


def codes(call, *args, **kwargs) -> dict:
    with pytest.raises(ValidationError) as info:
        call(*args, **kwargs)
    return {field: [e.code for e in errors] for field, errors in info.value.error_dict.items()}


def test_each_refusal_has_its_code_and_exact_message():
    assert codes(v.check_moment, NOW + timedelta(hours=1), field="t",
                 earliest=v.EARLIEST_TIME, now=NOW) == {"t": ["future"]}  # fmt: skip
    assert codes(v.check_moment, NOW - timedelta(days=2), field="t",
                 earliest=NOW - timedelta(days=1), now=NOW) == {"t": ["too_early"]}  # fmt: skip
    today = date(2026, 11, 24)
    assert codes(v.check_birth_date, today + timedelta(days=1), today=today) == {
        "date_of_birth": ["future"]
    }
    assert codes(v.check_birth_date, date(1900, 1, 1), today=today) == {
        "date_of_birth": ["too_early"]
    }
    far = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=15)))
    assert codes(v.as_utc, far, field="t") == {"t": ["offset"]}
    assert refused(v.as_utc, far, field="t") == {
        "t": ["The time zone offset is out of range (UTC-12 to UTC+14)."]
    }
    year_one = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8)))
    assert codes(v.as_utc, year_one, field="t") == {"t": ["range"]}
    assert refused(v.as_utc, year_one, field="t") == {"t": ["Give a time between 1900 and 3000."]}


def test_too_early_names_the_earliest_time_in_local_time():
    from django.utils import timezone as dj_timezone

    earliest = datetime(2026, 11, 20, 16, 5, tzinfo=UTC)  # 00:05 next day in Shanghai
    errors = refused(v.check_moment, earliest - timedelta(hours=1), field="t",
                     earliest=earliest, now=NOW)  # fmt: skip
    local = dj_timezone.localtime(earliest).strftime("%Y-%m-%d %H:%M")
    assert errors == {"t": [f"This time is too long ago: give a time after {local}."]}


def test_a_birth_date_is_checked_against_today_by_default():
    from django.utils import timezone as dj_timezone

    v.check_birth_date(dj_timezone.localdate())
    refused(v.check_birth_date, dj_timezone.localdate() + timedelta(days=1))


def test_json_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"^nested deeper than 32 levels$"):
        v.json_parse("[" * 5000 + "]" * 5000)
    with pytest.raises(ValueError, match=r"^a string holds a NUL character \(\\u0000\)$"):
        v.json_parse('"\\u0000"')
    with pytest.raises(ValueError, match="Expecting"):
        v.json_parse("{")


@pytest.mark.parametrize(
    "raw",
    [
        # The walk goes on past a string or a number to find what nests too deep.
        '["x", ' + "[" * 40 + "]" * 40 + "]",
        "[" + "[" * 40 + "]" * 40 + ', "x"]',
        "[" + "[" * 40 + "]" * 40 + ", 1]",
    ],
)
def test_depth_is_found_beside_scalars(raw):
    with pytest.raises(ValueError, match="nested"):
        v.json_parse(raw)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("138 0013 8000", "+8613800138000"), ("+86 10 1234 5678", "+861012345678")],
)
def test_phone_numbers_are_normalised(raw, e164):
    assert v.normalise_phone(raw) == e164


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("call me", "This is not a phone number. Example: 138 0013 8000 or +86 10 1234 5678."),
        (
            "12345",
            "This phone number cannot be dialled. Example: 138 0013 8000 or +86 10 1234 5678.",
        ),
    ],
)
def test_what_cannot_be_dialled_is_refused(raw, message):
    with pytest.raises(ValidationError) as info:
        v.normalise_phone(raw)
    assert info.value.messages == [message]
    assert info.value.code == "phone"
