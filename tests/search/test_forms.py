"""The field app's forms read what the phone sends; the services judge it (no database)."""

import math
import uuid
from datetime import UTC

import pytest
from django.http import QueryDict

from search.forms import (
    PositionShareForm,
    SightingReportForm,
    TaskAcceptForm,
    TaskFinishForm,
)


def bound(form_class, **fields):
    data = QueryDict(mutable=True)
    data.update({"client_id": str(uuid.uuid4()), "task": "7", **fields})
    return form_class(data)


@pytest.mark.parametrize("raw", ["²", "٣", "0", "-1", "1.0", "9" * 19, "", "x"])
def test_a_task_id_is_one_to_eighteen_ascii_digits(raw):
    form = bound(TaskAcceptForm, task=raw)

    assert not form.is_valid() and "task" in form.errors


def test_a_task_id_is_read_as_parse_id_reads_it():
    form = bound(TaskAcceptForm, task=" 42 ")

    assert form.is_valid() and form.cleaned_data["task"] == 42


def test_coverage_is_read_in_percent_and_handed_on_as_a_fraction():
    form = bound(TaskFinishForm, coverage="70")

    assert form.is_valid()
    assert form.cleaned_data["coverage"] == pytest.approx(0.7)


@pytest.mark.parametrize("raw", ["150", "-5", "nan", "1e999"])
def test_coverage_out_of_range_is_left_to_the_service(raw):
    # The service refuses it with its own message, and the outbox remembers that answer.
    form = bound(TaskFinishForm, coverage=raw)

    assert form.is_valid()
    value = form.cleaned_data["coverage"]
    assert math.isnan(value) or not 0 <= value <= 1


@pytest.mark.parametrize(
    ("raw", "ticked"),
    [("on", True), ("true", True), ("1", True), ("", False), ("yes", False), ("TRUE", False)],
)
def test_the_re_search_tick_is_what_a_checkbox_or_a_script_sends(raw, ticked):
    form = bound(TaskFinishForm, coverage="50", needs_research=raw)

    assert form.is_valid()
    assert form.cleaned_data["needs_research"] is ticked


def test_a_report_time_without_an_offset_is_local_and_is_handed_on_in_utc(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    form = bound(SightingReportForm, lat="34.25", lon="117.3", seen_at="2026-11-24T10:00")

    assert form.is_valid(), form.errors
    seen_at = form.cleaned_data["seen_at"]
    assert seen_at.tzinfo == UTC and (seen_at.hour, seen_at.minute) == (2, 0)
    assert form.cleaned_data["point"].coords == (117.3, 34.25)


def test_a_position_out_of_range_is_left_to_the_service():
    form = PositionShareForm(QueryDict(f"client_id={uuid.uuid4()}&lat=95&lon=117.3&accuracy=-3"))

    assert form.is_valid()
    assert (form.cleaned_data["lat"], form.cleaned_data["accuracy"]) == (95, -3)
    assert form.cleaned_data["unit"] is None  # the member's first unit
