"""References are ORG-YYYY-NNNNNN, gap-free per organisation and year, under concurrent intake."""

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Organisation, User
from search.models import Case
from search.services import intake
from search.services.timeline import Origin
from tests.search.intake_data import service_values

CONCURRENT_INTAKES = 12


def open_one(user) -> Case:
    return intake.case_open(origin=Origin(actor=user), data=intake.CaseInput(service_values()))


@pytest.mark.django_db(transaction=True)
def test_concurrent_intake_gives_distinct_gap_free_references(demo_world):
    clerk = User.objects.get(username="clerk")
    barrier = threading.Barrier(CONCURRENT_INTAKES)
    errors = []

    def worker():
        try:
            barrier.wait()
            open_one(clerk)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENT_INTAKES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    year = timezone.localdate().year
    refs = sorted(Case.objects.values_list("reference", flat=True))
    assert refs == [f"PC-{year}-{n:06d}" for n in range(1, CONCURRENT_INTAKES + 1)]


@pytest.mark.django_db
def test_a_rolled_back_intake_hands_its_number_back(clerk):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        open_one(clerk)
        raise Abort
    case = open_one(clerk)

    assert case.reference.endswith("-000001")


@pytest.mark.django_db
def test_each_organisation_counts_on_its_own(clerk):
    from tests.factories import UserFactory

    county = Organisation.objects.get(code="DSX")
    county_clerk = UserFactory(organisation=county, roles=["clerk"])

    open_one(clerk)
    county_case = open_one(county_clerk)

    assert county_case.reference.startswith("DSX-") and county_case.reference.endswith("-000001")
