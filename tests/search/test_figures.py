"""The figures against numbers worked out by hand from tests/search/figures_world.py."""

from datetime import timedelta

import pytest

from search.figures import FIGURES, Share, figure_rows, figures_compute
from tests.factories import OrganisationFactory, UnitFactory
from tests.search.figures_world import (
    END,
    NOW,
    START,
    at,
    build,
    make_case,
    make_task,
    sector_of,
)
from tests.search.services.querycount import queries

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)
MIN = timedelta(minutes=1)


@pytest.fixture
def world():
    return build()


@pytest.fixture
def figures(world):
    return figures_compute(organisation_ids=world.tree, start=START, end=END, now=NOW)


def test_recovery_counts_closed_cases_without_withdrawn_ones(figures):
    # Closed in the period: A, B, C, D (withdrawn) and E; L closed after it; X is the
    # outsider's.
    # Closed = A, B, C, E = 4; located (found or returned) = 4; rate 4 / 4.
    assert figures.recovery.closed == 4
    assert figures.recovery.located == 4
    assert figures.recovery.share.rate == 1.0
    assert figures.recovery.withdrawn == 1
    assert figures.recovery.by_outcome == {
        "found_well": 1,  # A
        "found_needs_care": 0,
        "found_injured": 1,  # B
        "found_deceased": 1,  # E
        "returned": 1,  # C
        "not_found": 0,
        "withdrawn": 1,  # D, shown but not in the rate
    }


def test_a_search_ended_without_finding_the_person_lowers_the_rate(world):
    # Filed before the period (so no filing figure moves), closed in it as not found: closed
    # A, B, C, E and N = 5, located still 4, rate 4 / 5 = 0.8; N has no time to locate.
    make_case(world.county_a, created=at(10, 20, 8), closed=at(11, 3, 8), outcome="not_found")
    figures = figures_compute(organisation_ids=world.tree, start=START, end=END, now=NOW)
    assert (figures.recovery.closed, figures.recovery.located) == (5, 4)
    assert figures.recovery.share.rate == 0.8
    assert figures.recovery.by_outcome["not_found"] == 1
    assert figures.time_to_locate.count == 4


def test_time_to_locate_median_and_90th_percentile(figures):
    # Located in the period: A 2 h, B 30 h, C 1 h, E 48 h (L and M are located after it).
    # Sorted 1, 2, 30, 48: median (2 + 30) / 2 = 16 h.
    # 90th percentile (continuous): position 0.9 x (4 - 1) = 2.7, so 30 + 0.7 x (48 - 30) =
    # 42.6 h = 42 h 36 min.
    spread = figures.time_to_locate
    assert spread.count == 4
    assert spread.median == 16 * H
    assert spread.p90 == 42 * H + 36 * MIN


def test_time_to_locate_and_24_hours_by_category(figures):
    rows = {row.category: row for row in figures.by_category}
    assert list(rows) == [
        "young_child",
        "child",
        "youth",
        "adult",
        "dementia",
        "autism",
        "intellectual_disability",
        "despondent",
        "other",
    ]
    # adult: A alone, 2 h.
    assert (rows["adult"].time_to_locate.median, rows["adult"].time_to_locate.p90) == (2 * H, 2 * H)
    # dementia: B 30 h and C 1 h: median 15.5 h; p90 at 0.9 x 1 = 0.9: 1 + 0.9 x 29 = 27.1 h.
    dementia = rows["dementia"].time_to_locate
    assert (dementia.count, dementia.median) == (2, 15 * H + 30 * MIN)
    assert dementia.p90 == 27 * H + 6 * MIN
    # child: E, 48 h.
    assert rows["child"].time_to_locate.median == 48 * H
    assert rows["youth"].time_to_locate.count == 0 and rows["youth"].time_to_locate.median is None
    # Within 24 h, filed before 10 Nov 00:00 and not withdrawn: adult A (2 h, yes) and H (not
    # located, no): 1 of 2; dementia B (30 h, no) and C (1 h, yes): 1 of 2.
    assert rows["adult"].within_24h == Share(1, 2)
    assert rows["dementia"].within_24h == Share(1, 2)
    assert rows["child"].within_24h == Share(0, 0)  # E was filed before the period
    assert rows["child"].within_24h.rate is None


def test_share_located_within_24_hours(figures):
    # Filed in [1 Nov, 10 Nov 00:00), not withdrawn: A, B, C, H (I is too late, D withdrawn).
    # Located within 24 h: A (2 h), C (1 h) -> 2 of 4.
    assert figures.located_within_24h == Share(2, 4)
    assert figures.located_within_24h.rate == 0.5


def test_first_offer_within_3_minutes(figures):
    # Filed in the period, not withdrawn: A, B, C, H, I, L.
    # Earliest offers: A +2 min (yes), B +5 min (no), C +3 min exactly (yes), H none (no),
    # I +1 min (yes), L none (no) -> 3 of 6.
    assert figures.dispatch_3min == Share(3, 6)


def test_search_started_within_10_minutes_of_an_accepted_offer(figures):
    # Offered in the period and accepted (answered, not declined or run out): T1, T3, T5, T6,
    # T9. Started within 10 min: T1 (6), T5 (6), T9 (5); T3 took 18, T6 has not started.
    assert figures.on_scene_10min == Share(3, 5)


def test_feedback_to_the_family_within_24_hours(figures):
    # Filed before 10 Nov 00:00, not withdrawn: A, B, C, H.
    # A closed after 3 h (yes); B contacted after 12 h (yes; closed after 31 h); C closed
    # after exactly 24 h (yes); H contacted after 26 h (no) -> 3 of 4.
    assert figures.feedback_24h == Share(3, 4)


def test_tasks(figures):
    tasks = figures.tasks
    # Offered in the period: T1, T2, T3, T4, T5, T6, T9 (T7 before it; the outsider's not ours).
    assert tasks.offered == 7
    assert tasks.accepted == 5  # T1, T3, T5, T6, T9
    assert tasks.declined == 1  # T2
    assert tasks.expired == 1  # T4
    assert tasks.reassigned == 3  # rank 2: T3, T5, T9
    # Answer times (min): T1 1, T2 2, T3 3, T4 3, T5 1, T6 4, T9 1 -> 1 1 1 2 3 3 4: median 2.
    assert tasks.answer_median == 2 * MIN
    # Done and finished in the period: T1 (sector A1), T3 (B1), T5 (C1), T7 (E1), T9 (A1 again)
    # -> 4 distinct sectors; coverage (0.8 + 0.6 + 1.0 + 0.5 + 0.9) / 5 = 0.76.
    assert tasks.sectors_searched == 4
    assert tasks.coverage_mean == pytest.approx(0.76)


def test_mutual_aid_for_the_whole_city(figures):
    aid = figures.aid
    # Made in the period: R1, R2, R4, R7 (our cases) and R3 (no case; the city's root is in
    # scope). R5 came after it; R6 is about the outsider's case.
    assert aid.total == 5
    assert [(c.partner_code, c.status, c.count) for c in aid.cells] == [
        ("PA", "active", 1),  # R1
        ("PA", "declined", 1),  # R2
        ("PB", "acknowledged", 1),  # R3
        ("PB", "completed", 1),  # R4
        ("PB", "sent", 1),  # R7
    ]
    assert aid.by_status()["sent"] == 1 and aid.by_status()["cancelled"] == 0
    assert [(code, total) for code, _name, _counts, total in aid.by_partner()] == [
        ("PA", 2),
        ("PB", 3),
    ]
    # Acknowledged after: R1 60 s, R2 300 s, R3 0 s, R4 0 s -> 0 0 60 300: median 30 s.
    assert aid.acknowledged_median == timedelta(seconds=30)
    # Accepted after: R1 10 min, R4 20 min -> median 15 min.
    assert aid.accepted_median == 15 * MIN
    # Waiting now (neither delivered nor refused): R7's, R5's and R3's; R6's is the outsider's.
    # The oldest is R3's, from 4 Nov 12:01: 16 days less one minute before now.
    assert aid.undelivered == 3
    assert aid.oldest_undelivered_age == timedelta(days=16) - MIN


def test_open_now_by_priority_and_age(figures):
    open_cases = figures.open_cases
    # Open or active now: G (critical, 30 min), J (high, 2 h), J2 (normal, exactly 6 h),
    # K (normal, 2 days), H (normal, 10 d 16 h), I (high, 10 days). M is found, not open.
    assert open_cases.total == 6
    nonzero = {key: n for key, n in open_cases.counts.items() if n}
    assert nonzero == {
        (1, "lt_1h"): 1,
        (2, "1h_6h"): 1,
        (3, "6h_24h"): 1,
        (3, "1d_3d"): 1,
        (3, "gt_7d"): 1,
        (2, "gt_7d"): 1,
    }
    assert open_cases.by_band() == [1, 1, 1, 1, 0, 2]
    assert open_cases.by_priority(3) == [0, 0, 1, 1, 0, 1]
    # Overdue and waiting for an answer: to FCA (issued, 1 h past) and to FC (re-opened, a day
    # past). Not the answered one, not the one due in an hour, not the outsider's.
    assert open_cases.orders_overdue == 2


def test_per_organisation(figures):
    rows = [(r.code, r.closed, r.located, r.share.rate, r.time_to_locate_median) for r in
            figures.organisations]  # fmt: skip
    assert rows == [
        ("FC", 1, 1, 1.0, 48 * H),  # E
        ("FCA", 2, 2, 1.0, 16 * H),  # A 2 h, B 30 h
        ("FCB", 1, 1, 1.0, 1 * H),  # C 1 h; D withdrawn
    ]


def test_a_county_sees_only_its_own_rows(world):
    figures = figures_compute(organisation_ids=[world.county_a.pk], start=START, end=END, now=NOW)
    # FCA's: A and B closed and located (2 h, 30 h).
    assert (figures.recovery.closed, figures.time_to_locate.median) == (2, 16 * H)
    # Filed in the period: A (+2 min), B (+5 min), I (+1 min), L (none) -> 2 of 4.
    assert figures.dispatch_3min == Share(2, 4)
    # R1, R2, R7 are about FCA's cases; R3 (no case) belongs to the city's top desk.
    assert figures.aid.total == 3
    # Only R7's message waits: since 10 Nov 13:00, 9 d 23 h before now.
    assert figures.aid.undelivered == 1
    assert figures.aid.oldest_undelivered_age == timedelta(days=9, hours=23)
    # G, J2, I are FCA's open cases; the order to FCA is overdue.
    assert figures.open_cases.total == 3
    assert figures.open_cases.orders_overdue == 1
    assert [r.code for r in figures.organisations] == ["FCA"]


def test_an_empty_period_has_zeros_and_no_rates(world):
    start = at(1, 1, 0).replace(year=2020)
    figures = figures_compute(
        organisation_ids=world.tree, start=start, end=start + timedelta(days=7), now=NOW
    )
    assert figures.recovery.closed == 0 and figures.recovery.share.rate is None
    assert set(figures.recovery.by_outcome.values()) == {0}
    assert figures.time_to_locate.median is None and figures.time_to_locate.p90 is None
    for share in (figures.located_within_24h, figures.dispatch_3min, figures.feedback_24h,
                  figures.on_scene_10min):  # fmt: skip
        assert share == Share(0, 0) and share.rate is None
    assert figures.tasks.offered == 0 and figures.tasks.answer_median is None
    assert figures.tasks.coverage_mean is None
    assert figures.aid.total == 0 and figures.aid.cells == []
    # What stands now does not depend on the period.
    assert figures.open_cases.total == 6
    assert figures.aid.undelivered == 3


def test_no_organisation_no_figures(world):
    figures = figures_compute(organisation_ids=[], start=START, end=END, now=NOW)
    assert figures.recovery.closed == 0 and figures.open_cases.total == 0
    assert figures.aid.total == 0 and figures.aid.undelivered == 0
    assert figures.organisations == []


def test_exactly_one_case():
    org = OrganisationFactory(code="ONE")
    # Filed 2 Nov 10:00, offered after 2 min, started 4 min later, located after 90 min.
    case = make_case(
        org, created=at(11, 2, 10), located=at(11, 2, 11, 30), closed=at(11, 2, 12),
        outcome="found_well",
    )  # fmt: skip
    make_task(case, sector_of(case), UnitFactory(organisation=org), offered=at(11, 2, 10, 2),
              answered=at(11, 2, 10, 3), started=at(11, 2, 10, 6), finished=at(11, 2, 11),
              coverage=0.5, status="done")  # fmt: skip
    figures = figures_compute(organisation_ids=[org.pk], start=START, end=END, now=NOW)
    assert figures.recovery.share == Share(1, 1)
    # One value: the median and the 90th percentile are that value.
    assert figures.time_to_locate.median == figures.time_to_locate.p90 == 90 * MIN
    assert figures.located_within_24h == Share(1, 1)
    assert figures.dispatch_3min == Share(1, 1)
    assert figures.on_scene_10min == Share(1, 1)
    # Closed 2 h after filing: that is the feedback.
    assert figures.feedback_24h == Share(1, 1)
    assert (figures.tasks.offered, figures.tasks.answer_median) == (1, MIN)
    assert figures.organisations[0].time_to_locate_median == 90 * MIN


def test_a_deadline_not_yet_passed_does_not_count_as_missed():
    org = OrganisationFactory(code="RUN")
    now = at(11, 10, 12)
    # The period runs until 11 Nov 00:00, but it is only 10 Nov 12:00.
    # Filed 9 Nov 8:00 and not located: 28 h ago, its 24 h have passed: a miss.
    make_case(org, status="open", created=at(11, 9, 8))
    # Filed 2 h ago, not located: it still has 22 h, so it is not counted yet.
    make_case(org, status="open", created=now - 2 * H)
    # Filed 2 min ago, no offer yet: it still has a minute to be offered.
    make_case(org, status="open", created=now - 2 * MIN)
    figures = figures_compute(organisation_ids=[org.pk], start=START, end=END, now=now)
    assert figures.located_within_24h == Share(0, 1)
    assert figures.feedback_24h == Share(0, 1)
    # The 3-minute target: the first two have missed it, the third has not yet.
    assert figures.dispatch_3min == Share(0, 2)


def test_cost_does_not_grow_with_cases(world):
    def run():
        figures_compute(organisation_ids=world.tree, start=START, end=END, now=NOW)

    few = queries(run)
    for n in range(30):
        make_case(world.county_a, created=at(11, 3, n % 24), located=at(11, 4, 1),
                  closed=at(11, 4, 2), outcome="returned")  # fmt: skip
    # Eight aggregates, the organisations' names, and the transaction they run in with its JIT
    # setting.
    assert queries(run) == few <= 12


def test_every_value_has_a_defined_key(figures):
    rows = list(figure_rows(figures))
    assert {key for key, _breakdown, _value in rows} == set(FIGURES)
    values = {(key, breakdown): value for key, breakdown, value in rows}
    assert values[("time_to_locate_median_seconds", "")] == 16 * 3600
    assert values[("time_to_locate_p90_seconds", "")] == 42 * 3600 + 36 * 60
    assert values[("recovery_rate", "organisation=FCB")] == 1.0
    assert values[("open_cases", "priority=1;age=lt_1h")] == 1
    assert values[("aid_requests", "partner=PB;status=sent")] == 1
    assert values[("located_within_24h", "category=youth")] is None
    assert values[("coverage_mean", "")] == pytest.approx(0.76)
    # Every key has its label and definition.
    assert all(str(f.label) and str(f.definition).endswith(".") for f in FIGURES.values())


def test_naive_or_reversed_periods_are_refused():
    with pytest.raises(ValueError, match="aware"):
        figures_compute(organisation_ids=[], start=START.replace(tzinfo=None), end=END, now=NOW)
    with pytest.raises(ValueError, match="after start"):
        figures_compute(organisation_ids=[], start=END, end=START, now=NOW)


def test_task_figures_starting_from_the_periods_cases_miss_no_task(world, figures):
    # The task figures start from cases filed before the end and not closed before the start;
    # counted over every task of the tree instead, they are the same.
    from search.models import Task

    tasks = Task.objects.filter(case__organisation_id__in=world.tree)
    offered = tasks.filter(offered_at__gte=START, offered_at__lt=END)
    done = tasks.filter(status="done", finished_at__gte=START, finished_at__lt=END)
    assert figures.tasks.offered == offered.count() > 0
    assert figures.tasks.declined == offered.filter(status="declined").count()
    assert figures.tasks.expired == offered.filter(status="expired").count()
    assert figures.tasks.reassigned == offered.filter(rank__gt=1).count()
    assert figures.tasks.sectors_searched == done.values("sector").distinct().count() > 0
