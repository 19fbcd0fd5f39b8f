"""bench/scale.py's builder at a tiny scale, in a database of its own: the counts it was asked
for, and every rule of the models holds (the database's constraints, the models' validation,
and the facts the app relies on: located cases have a time, timelines run 1..n)."""

from datetime import timedelta

import psycopg
import pytest
from django.apps import apps
from django.contrib.auth.hashers import check_password
from django.db import models
from django.utils import timezone

from bench import scale, scale_build

SMALL = scale_build.Scale(
    cases=500,
    open_cases=40,
    units=50,
    tasks=5_000,
    events=5_000,
    cities=2,
    counties=5,
    years=5,
    aid_requests=30,
    orders=20,
)
# Every model the builder writes, by table: each is sampled and validated.
BUILT_MODELS = [
    "accounts.Organisation", "accounts.User", "accounts.Unit", "accounts.Partner",
    "search.Case", "search.SearchArea", "search.Sector", "search.Task", "search.CaseEvent",
    "search.Sighting", "search.Alert", "search.CrisisContact", "search.MutualAidRequest",
    "search.OutboxMessage", "search.SupervisionOrder", "search.CaseReferenceCounter",
]  # fmt: skip


@pytest.fixture(scope="module")
def built():
    """Build SMALL in <DATABASE_URL's name>_scale_test; drop that database afterwards."""
    url = scale.scale_database_url("_scale_test")
    seconds, counts = scale.build_fresh(url, SMALL, jobs=2)
    conn = psycopg.connect(scale.libpq_dsn(url), autocommit=True)
    yield {"url": url, "conn": conn, "counts": counts, "seconds": seconds}
    conn.close()
    with psycopg.connect(
        scale.libpq_dsn(scale.with_database(url, "postgres")), autocommit=True
    ) as admin:
        admin.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(scale.database_name(url))
            )
        )


def one(conn, query, params=()):
    return conn.execute(query, params).fetchone()[0]


def test_counts_are_exactly_those_asked_for(built):
    conn, counts = built["conn"], built["counts"]
    assert counts["cases"] == SMALL.cases + SMALL.open_cases
    assert counts["units"] == SMALL.units
    closed = "JOIN search_case c ON c.id = x.case_id WHERE c.status = 'closed'"
    # Per-case counts vary, but add up to the totals asked for, over the closed cases.
    assert one(conn, f"SELECT count(*) FROM search_caseevent x {closed}") == SMALL.events
    assert one(conn, f"SELECT count(*) FROM search_task x {closed}") == SMALL.tasks
    assert counts["events"] > SMALL.events and counts["tasks"] > SMALL.tasks  # the open cases'
    assert one(conn, "SELECT count(DISTINCT organisation_id) FROM search_case") > SMALL.cities
    assert 10 <= counts["aid_requests"] <= 3 * SMALL.aid_requests
    assert counts["orders"] > 0


def test_database_constraints_and_indexes_are_those_of_the_migrations(built, django_db_setup):
    """The builder drops indexes and constraints for the load: all come back, all checked."""
    from django.conf import settings

    def schema(conn):
        constraints = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated"
            " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        ).fetchall()
        indexes = conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
        return set(constraints), set(indexes)

    migrated_url = scale.with_database(built["url"], settings.DATABASES["default"]["NAME"])
    with psycopg.connect(scale.libpq_dsn(migrated_url)) as migrated:
        expected = schema(migrated)
    constraints, indexes = schema(built["conn"])
    assert constraints == expected[0]
    assert indexes == expected[1]
    assert all(validated for *_, validated in constraints)
    assert any(name == "task_one_open_per_sector" for _, name, _ in indexes)


def _sample(conn, model, limit=40):
    fields = model._meta.concrete_fields
    columns = ", ".join(f'"{f.column}"' for f in fields)
    rows = conn.execute(
        f"SELECT {columns} FROM {model._meta.db_table} ORDER BY random() LIMIT {limit}"
    ).fetchall()
    assert rows, f"no {model.__name__} was built"
    return [
        model(**{f.attname: value for f, value in zip(fields, row, strict=True)}) for row in rows
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("label", BUILT_MODELS)
def test_sampled_rows_pass_the_models_validation(built, label):
    model = apps.get_model(label)
    # Foreign keys and uniqueness are the bench database's to check (the test above): the
    # validation would look for them in the test database.
    relations = [f.name for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)]
    for instance in _sample(built["conn"], model):
        instance.full_clean(exclude=relations, validate_unique=False, validate_constraints=False)


def test_cases_tell_a_consistent_story(built):
    conn = built["conn"]
    now = timezone.now()
    broken = {
        "located outcome without located_at": "outcome IN ('found_well', 'found_needs_care',"
        " 'found_injured', 'found_deceased', 'returned') AND located_at IS NULL",
        "withdrawn but located": "outcome = 'withdrawn' AND located_at IS NOT NULL",
        "closed without closed_at": "status = 'closed' AND closed_at IS NULL",
        "open with an outcome": "status IN ('open', 'active') AND outcome <> ''",
        "located before filed or after closed": "located_at < created_at OR located_at > closed_at",
        "seen after filed": "last_seen_at > created_at",
        "closed in the future": "closed_at > now()",
    }
    for what, condition in broken.items():
        assert one(conn, f"SELECT count(*) FROM search_case WHERE {condition}") == 0, what
    oldest, newest_closed = conn.execute(
        "SELECT min(created_at), max(created_at) FROM search_case WHERE status = 'closed'"
    ).fetchone()
    assert now - oldest > timedelta(days=365 * SMALL.years - 5)
    assert now - newest_closed < timedelta(days=10)
    open_cases = conn.execute(
        "SELECT min(created_at), count(DISTINCT o.parent_id) + count(*) FILTER"
        " (WHERE o.parent_id IS NULL) FROM search_case c JOIN accounts_organisation o"
        " ON o.id = c.organisation_id WHERE status IN ('open', 'active')"
    ).fetchone()
    assert now - open_cases[0] < timedelta(days=8)
    assert open_cases[1] >= SMALL.cities  # spread over the cities
    # Every outcome, category and priority appears; most people are found.
    assert one(conn, "SELECT count(DISTINCT outcome) FROM search_case WHERE outcome <> ''") == 6
    assert one(conn, "SELECT count(DISTINCT category) FROM search_case") == 9
    assert one(conn, "SELECT count(DISTINCT priority) FROM search_case") == 3
    located = one(conn, "SELECT avg((located_at IS NOT NULL)::int) FROM search_case"
                  " WHERE status = 'closed'")  # fmt: skip
    assert 0.85 < located < 0.99


def test_references_and_counters_agree(built):
    conn = built["conn"]
    assert one(conn, "SELECT count(*) FROM search_case WHERE reference !~"
               " '^[A-Z]{2,8}-[0-9]{4}-[0-9]{6}$'") == 0  # fmt: skip
    mismatched = one(
        conn,
        """
        SELECT count(*) FROM search_casereferencecounter r FULL JOIN (
            SELECT organisation_id, split_part(reference, '-', 2)::int AS year,
                   max(split_part(reference, '-', 3)::int) AS last, count(*) AS n
            FROM search_case GROUP BY 1, 2) c USING (organisation_id, year)
        WHERE r.last_number IS DISTINCT FROM c.last OR c.last <> c.n
        """,
    )
    assert mismatched == 0


def test_timelines_run_from_created_to_the_outcome_and_chain_their_hashes(built):
    conn = built["conn"]
    gaps = one(
        conn,
        "SELECT count(*) FROM (SELECT case_id, max(seq) AS n, count(*) AS k, min(seq) AS first"
        " FROM search_caseevent GROUP BY case_id) t WHERE n <> k OR first <> 1",
    )
    assert gaps == 0
    assert one(conn, "SELECT count(*) FROM search_case c WHERE NOT EXISTS"
               " (SELECT 1 FROM search_caseevent e WHERE e.case_id = c.id)") == 0  # fmt: skip
    wrong_ends = one(
        conn,
        """
        SELECT count(*) FROM search_case c JOIN search_caseevent e ON e.case_id = c.id
        WHERE (e.seq = 1 AND e.kind <> 'created')
           OR (c.status = 'closed' AND e.seq = (SELECT max(seq) FROM search_caseevent
                                                WHERE case_id = c.id)
               AND e.kind NOT IN ('outcome_recorded', 'withdrawn'))
        """,
    )
    assert wrong_ends == 0
    broken_links = one(
        conn,
        "SELECT count(*) FROM search_caseevent e JOIN search_caseevent b"
        " ON b.case_id = e.case_id AND b.seq = e.seq - 1 WHERE e.prev_hash <> b.hash",
    )
    assert broken_links == 0
    out_of_order = one(
        conn,
        "SELECT count(*) FROM search_caseevent e JOIN search_caseevent b"
        " ON b.case_id = e.case_id AND b.seq = e.seq - 1 WHERE e.created_at < b.created_at",
    )
    assert out_of_order == 0


def test_tasks_go_to_units_of_the_cases_city_and_have_their_times(built):
    conn = built["conn"]
    foreign = one(
        conn,
        """
        SELECT count(*) FROM search_task t
        JOIN search_case c ON c.id = t.case_id
        JOIN accounts_organisation co ON co.id = c.organisation_id
        JOIN accounts_unit u ON u.id = t.unit_id
        JOIN accounts_organisation uo ON uo.id = u.organisation_id
        WHERE coalesce(co.parent_id, co.id) <> uo.parent_id
        """,
    )
    assert foreign == 0
    missing = {
        "answered task without its time": "status IN ('declined', 'accepted', 'in_progress',"
        " 'done') AND answered_at IS NULL",
        "done task without start, finish or coverage": "status = 'done' AND (started_at IS NULL"
        " OR finished_at IS NULL OR coverage IS NULL)",
        "open task on a closed case": "status IN ('offered', 'accepted', 'in_progress')"
        " AND case_id IN (SELECT id FROM search_case WHERE status = 'closed')",
        "times out of order": "answered_at < offered_at OR finished_at < started_at",
    }
    for what, condition in missing.items():
        assert one(conn, f"SELECT count(*) FROM search_task WHERE {condition}") == 0, what
    statuses = {row[0] for row in conn.execute("SELECT DISTINCT status FROM search_task")}
    assert {"declined", "expired", "done", "cancelled", "in_progress"} <= statuses


def test_each_city_has_a_coordinator_and_a_supervisor_who_can_sign_in(built):
    conn = built["conn"]
    rows = conn.execute(
        """
        SELECT o.code, g.name, u.password FROM accounts_user u
        JOIN accounts_organisation o ON o.id = u.organisation_id
        JOIN accounts_user_groups ug ON ug.user_id = u.id JOIN auth_group g ON g.id = ug.group_id
        WHERE o.level = 'city' AND o.parent_id IS NULL AND g.name IN ('coordinator', 'supervisor')
        """
    ).fetchall()
    cities = {code for code, _, _ in rows}
    assert len(cities) == SMALL.cities
    assert len(rows) == 2 * SMALL.cities
    assert all(check_password(scale_build.PASSWORD, password) for *_, password in rows)
    assert not check_password("not-the-password", rows[0][2])


def test_a_second_run_reuses_a_complete_build_of_the_same_parameters(built):
    how, seconds, counts = scale.ensure_build(built["url"], SMALL, rebuild=False, jobs=2)
    assert how == "reused"
    assert counts == built["counts"]
    assert seconds == pytest.approx(built["seconds"])
    other = scale_build.Scale(**{**SMALL.__dict__, "cases": SMALL.cases + 2})
    assert scale.existing_build(built["url"])["params"] != other.__dict__


def test_bench_database_names_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgis://u:p@db.example:5433/beacon_x")
    monkeypatch.delenv("SCALE_DATABASE_URL", raising=False)
    assert scale.scale_database_url() == "postgis://u:p@db.example:5433/beacon_x_scale"
    assert scale.scale_database_url("_scale_test").endswith("/beacon_x_scale_test")
    monkeypatch.setenv("SCALE_DATABASE_URL", "postgis://u@h/elsewhere")
    assert scale.scale_database_url() == "postgis://u@h/elsewhere"
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6380/3")
    monkeypatch.delenv("SCALE_REDIS_URL", raising=False)
    assert scale.scale_redis_url() == "redis://cache.example:6380/8"
