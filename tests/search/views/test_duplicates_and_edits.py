"""Duplicates are shown before saving; edits never overwrite someone else's silently."""

from datetime import timedelta

import pytest
from django.utils import timezone

from search.models import Case, CaseEvent
from search.services import intake
from search.services.timeline import Origin
from tests.search.intake_data import form_payload, service_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def existing(clerk):
    """An open case of the same child, filed an hour earlier, 1 km away."""
    return intake.case_open(
        origin=Origin(actor=clerk),
        data=intake.CaseInput(
            values=service_values(
                subject_name="王小明",
                category="young_child",
                estimated_age=7,
                last_seen_at=timezone.now() - timedelta(hours=3),
            )
        ),
    )


def test_a_report_that_looks_like_an_open_case_is_shown_before_saving(client, clerk, existing):
    client.force_login(clerk)

    response = client.post("/cases/new/", form_payload(latitude="34.305"))

    assert response.status_code == 200
    assert [c.pk for c in response.context["duplicates"]] == [existing.pk]
    assert existing.reference in response.content.decode()
    assert Case.objects.count() == 1


def test_clerk_links_the_duplicate_and_goes_on(client, clerk, existing):
    client.force_login(clerk)

    response = client.post(
        "/cases/new/",
        form_payload(latitude="34.305", duplicates_reviewed="on", link_to=[existing.pk]),
    )

    assert response.status_code == 302
    new = Case.objects.exclude(pk=existing.pk).get()
    assert list(new.linked_cases.all()) == [existing]
    assert list(existing.linked_cases.all()) == [new]
    assert CaseEvent.objects.filter(kind="linked").count() == 2


def test_clerk_goes_on_without_linking(client, clerk, existing):
    client.force_login(clerk)

    client.post("/cases/new/", form_payload(latitude="34.305", duplicates_reviewed="on"))

    assert Case.objects.count() == 2
    assert not existing.linked_cases.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject_name": "张伟"},  # another name
        {"latitude": "34.40"},  # 11 km away
        {"date_of_birth": "1950-01-01"},  # a different age
    ],
    ids=["name", "distance", "age"],
)
def test_different_people_are_not_flagged(client, clerk, existing, overrides):
    client.force_login(clerk)

    response = client.post("/cases/new/", form_payload(**overrides))

    assert response.status_code == 302
    assert Case.objects.count() == 2


def edit_payload(case: Case, **overrides) -> dict:
    data = form_payload(
        subject_name=case.subject_name,
        category=case.category,
        date_of_birth="",
        estimated_age=str(case.estimated_age),
        reporter_phone=case.reporter_phone,
        last_seen_at=timezone.localtime(case.last_seen_at).strftime("%Y-%m-%dT%H:%M"),
        version=str(case.version),
    )
    data.update(overrides)
    return data


def test_edit_records_which_fields_changed_with_old_and_new(client, clerk, existing):
    client.force_login(clerk)

    response = client.post(f"/cases/{existing.pk}/edit/", edit_payload(existing, hair="long grey"))

    assert response.status_code == 302
    existing.refresh_from_db()
    assert existing.hair == "long grey" and existing.version == 2
    event = existing.events.get(kind="edited")
    assert event.data["changes"]["hair"] == {"old": "", "new": "long grey"}


def test_stale_edit_shows_both_versions_and_overwrites_nothing(
    client, clerk, coordinator, existing
):
    opened_version = existing.version
    # The coordinator saves first.
    intake.case_update(
        origin=Origin(actor=coordinator),
        case=existing,
        data=intake.CaseInput(values={"clothing": "green coat"}),
        expected_version=opened_version,
    )
    client.force_login(clerk)

    response = client.post(
        f"/cases/{existing.pk}/edit/",
        edit_payload(existing, clothing="yellow raincoat", version=str(opened_version)),
    )

    assert response.status_code == 409
    page = response.content.decode()
    assert "green coat" in page and "yellow raincoat" in page
    existing.refresh_from_db()
    assert existing.clothing == "green coat"
    assert existing.events.filter(kind="edited").count() == 1
    # Saving again from the conflict page is a knowing overwrite.
    assert response.context["form"]["version"].value() == existing.version
