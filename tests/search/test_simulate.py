"""The search-effectiveness simulator (bench/simulate.py) and the dispatch policies it compares.

The simulator drives the real services on the test database, in small worlds: a dozen units,
one or two cases, an hour or two of simulated time.
"""

import math
from importlib import import_module

import pytest
from django.apps import apps

from bench import simulate
from search.models import Case, Task
from search.selectors import current_sectors
from search.services import offers, policy
from search.services.policy import Pair, pod, pod_combined, posterior
from tests.factories import SearchAreaFactory, SectorFactory, UnitFactory

# --- The laws, by hand ----------------------------------------------------------------------


def test_pod_follows_koopman_and_repeated_searches_add_their_coverage():
    assert pod(1.0) == pytest.approx(1 - math.exp(-1), abs=1e-12)  # 0.6321
    assert pod(0.0) == 0.0
    assert pod(2.3) == pytest.approx(0.8997, abs=1e-4)
    # Two searches at coverage 1: the misses multiply, as one search at coverage 2.
    assert pod_combined(pod(1.0), pod(1.0)) == pytest.approx(pod(2.0), abs=1e-12)  # 0.8647


def test_bayes_lowers_a_searched_sector_and_raises_the_others():
    # Two sectors of 0.5; the first searched with POD 0.6 and the person not found:
    # 0.5 x 0.4 / (0.5 x 0.4 + 0.5) = 0.2857, the other 0.5 / 0.7 = 0.7143.
    assert posterior([0.5, 0.5], [0.6, 0.0]) == pytest.approx([2 / 7, 5 / 7], abs=1e-12)
    # Three sectors 0.5/0.3/0.2, the first searched with POD 0.8: 0.1 / 0.6 = 0.1667,
    # 0.3 / 0.6 = 0.5, 0.2 / 0.6 = 0.3333.
    assert posterior([0.5, 0.3, 0.2], [0.8, 0, 0]) == pytest.approx([1 / 6, 1 / 2, 1 / 3])


@pytest.mark.django_db
def test_the_map_shows_each_sectors_current_probability_after_bayes():
    area = SearchAreaFactory()
    searched = SectorFactory(area=area, weight=0.5, coverage=0.6, status="searched")
    fresh = SectorFactory(area=area, weight=0.5)
    probability = dict(current_sectors(area.case).values_list("pk", "probability"))
    assert probability[searched.pk] == pytest.approx(2 / 7)
    assert probability[fresh.pk] == pytest.approx(5 / 7)


def test_a_person_in_a_sector_searched_at_coverage_1_is_found_63_percent_of_the_time():
    # 20,000 independent draws: the standard error is 0.0034, so 0.015 is over 4 of them.
    draws = 20_000
    found = sum(simulate.detected(7, 0, "8928308280fffff", n, 1.0) for n in range(draws))
    assert found / draws == pytest.approx(1 - math.exp(-1), abs=0.015)
    # And at coverage 2, 86 %: coverage adds up when a sector is searched again.
    found = sum(simulate.detected(8, 0, "8928308280fffff", n, 2.0) for n in range(draws))
    assert found / draws == pytest.approx(1 - math.exp(-2), abs=0.015)


def test_the_persons_distance_follows_the_profile_percentiles():
    rng = simulate.stream(1, "test")
    distances = [100, 300, 700, 1900]
    draws = sorted(simulate.draw_distance(rng, distances) for _ in range(20_000))
    for share, metres in zip((0.25, 0.5, 0.75, 0.95), distances, strict=True):
        assert draws[int(share * len(draws))] == pytest.approx(metres, rel=0.05)
    assert draws[-1] <= 2 * distances[-1]


# --- The policies, on candidate pairs --------------------------------------------------------


def pair(sector, unit, distance, weight, *, home=True, ring=1, coverage=0.0, kind="patrol"):
    return Pair(
        sector=sector,
        unit=unit,
        distance=distance,
        home=home,
        weight=weight,
        coverage=coverage,
        ring=ring,
        h3_index="8928308280fffff",
        kind=kind,
    )


def test_ring_takes_the_heaviest_sector_first_and_pos_rate_weighs_it_against_the_journey():
    # Sector 1 is a little more likely but 12 km away; sector 2 is 200 m away.
    pairs = [pair(1, 10, 12_000, 0.30), pair(2, 10, 200, 0.25)]
    ring = policy.choose(policy="ring", pairs=pairs, load={}, cap=1, total_probability=1.0)
    assert list(ring) == [1]
    rate = policy.choose(policy="pos_rate", pairs=pairs, load={}, cap=1, total_probability=1.0)
    assert list(rate) == [2]
    basis = rate[2].basis
    assert basis["policy"] == "pos_rate" and basis["pod"] == pytest.approx(0.632, abs=1e-3)
    assert basis["travel_min"] == pytest.approx(0.2 / 25 * 60, abs=0.1)
    assert "detection 63%" in policy.basis_text(basis)


def test_pos_rate_reaches_outside_the_home_area_only_when_the_home_units_are_busy():
    home = pair(1, 10, 900, 0.4)
    neighbour = pair(1, 11, 300, 0.4, home=False)
    picks = policy.choose(
        policy="pos_rate", pairs=[home, neighbour], load={}, cap=1, total_probability=1.0
    )
    assert picks[1].unit == 10 and picks[1].basis["home"] is True
    picks = policy.choose(
        policy="pos_rate", pairs=[home, neighbour], load={10: 1}, cap=1, total_probability=1.0
    )
    assert picks[1].unit == 11 and picks[1].basis["home"] is False
    assert "outside its home area" in policy.basis_text(picks[1].basis)
    # Not for a sector of an outer ring.
    far = pair(2, 11, 300, 0.1, home=False, ring=3)
    assert (
        policy.choose(policy="pos_rate", pairs=[far], load={}, cap=1, total_probability=1.0) == {}
    )


def test_pos_rate_searches_fresh_ground_before_going_over_searched_ground():
    searched = pair(1, 10, 200, 0.3, coverage=0.63)  # now 0.3 x 0.37 = 0.11
    fresh = pair(2, 10, 200, 0.2)
    picks = policy.choose(
        policy="pos_rate", pairs=[searched, fresh], load={}, cap=1, total_probability=1.0
    )
    assert list(picks) == [2]


# --- The simulator, through the real services -----------------------------------------------


def small(**overrides) -> simulate.Config:
    values = {
        "seed": 3,
        "units": 12,
        "cases": 1,
        "rate": 6.0,
        "horizon_h": 1.5,
        "policy": "ring",
        "sighting_chance": 0.0,
    }
    values.update(overrides)
    return simulate.Config(**values)


@pytest.fixture
def profiles(transactional_db):
    # Transactional tests truncate what data migrations wrote.
    import_module("search.migrations.0005_default_profiles").create_profiles(apps, None)


FIGURES = {"found_1h", "found_24h", "ttf_min", "first_offer_p50_s", "offers", "offers_expired"}


@pytest.mark.django_db(transaction=True)
def test_the_simulator_is_deterministic_for_a_seed(profiles):
    first = simulate.Simulation(small()).run()
    second = simulate.Simulation(small()).run()
    assert first["offers"] > 0
    assert {k: first[k] for k in FIGURES} == {k: second[k] for k in FIGURES}
    other = simulate.Simulation(small(seed=4)).run()
    assert {k: other[k] for k in FIGURES} != {k: first[k] for k in FIGURES}


@pytest.mark.django_db(transaction=True)
def test_the_simulated_clock_reaches_expiry_and_reoffer_through_the_real_services(profiles):
    result = simulate.Simulation(small(no_answer=1.0, horizon_h=0.5)).run()
    case = Case.objects.get(subject_name="模拟 0")
    tasks = Task.objects.filter(case=case)
    assert result["offers_expired"] > 0
    assert tasks.filter(status="expired").count() == result["offers_expired"]
    # An expired offer went to the next unit: the same sector, offered a second time.
    assert tasks.filter(rank__gte=2).exists()
    first = tasks.order_by("offered_at").first()
    assert first.expires_at == first.offered_at + simulate.timedelta(seconds=180)
    # Nobody answered, so nothing was searched; the horizon closed the case, unfound.
    assert not tasks.filter(status="done").exists()
    case.refresh_from_db()
    assert case.outcome == "not_found" and result["found_24h"] == 0.0


@pytest.mark.django_db(transaction=True)
def test_pos_rate_through_the_simulator_says_why_each_unit_got_its_sector(profiles, settings):
    settings.DISPATCH = {**settings.DISPATCH, "POLICY": "pos_rate"}
    result = simulate.Simulation(small(seed=5, horizon_h=1.0)).run()
    tasks = Task.objects.filter(case__subject_name="模拟 0")
    assert result["offers"] == tasks.count() > 0
    assert all(t.basis["policy"] == "pos_rate" and 0 < t.basis["pod"] < 1 for t in tasks)
    assert tasks.filter(status="done").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("name, offered", [("pos_rate", True), ("ring", False)])
def test_a_searched_sector_is_offered_again_by_pos_rate_only(settings, name, offered):
    settings.DISPATCH = {**settings.DISPATCH, "POLICY": name}
    area = SearchAreaFactory(case__status="active")
    case = area.case
    sector = SectorFactory(area=area, weight=0.5, coverage=0.63, status="searched")
    UnitFactory(organisation=case.organisation)
    result = offers.offers_make(case=case)
    assert bool(result.offered) is offered
    if offered:
        task = Task.objects.get(pk=result.offered[0])
        assert task.sector == sector and task.basis["probability"] == pytest.approx(1.0)
        sector.refresh_from_db()
        assert sector.status == "offered"
        # Taken back unanswered, it waits again as ground to search again, its coverage kept.
        offers.offers_expire(now=task.expires_at)
        sector.refresh_from_db()
        assert (sector.status, sector.coverage) == ("needs_research", 0.63)
