"""Build five years of a province in PostgreSQL, set-wise: INSERT … SELECT FROM generate_series.

Every row is a function of its id: a seeded hash (`bench_scale.u(key, salt)`, uniform in [0, 1))
stands in for chance, so a build is the same every time for the same parameters and each table
can be written on its own connection without reading another (ids are arithmetic: the sectors of
case c are c*64 + j, the tasks of sector s are s*8 + rank, the sightings of case c are c*4 + 1 and
c*4 + 2). The big tables lose their secondary indexes, unique and foreign-key constraints while
they are filled and get them back, exactly as the migrations made them, afterwards; CHECK
constraints stay on throughout. Re-adding the foreign keys and unique constraints is the proof
that the data keeps the models' rules.

The marker table `bench_scale.build` records the parameters, the migrations the schema was built
from and the row counts; a run with the same parameters on a complete build reuses it.
"""

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

SRID = 4326
# The sectors of case c have ids c*64 + j (j < 64); the tasks of sector s have ids s*8 + rank.
SECTOR_SLOTS = 64
TASK_SLOTS = 8
MAX_TASKS_PER_CASE = 48
MIN_EVENTS_PER_CASE = 5
# Known to the bench, written only into the bench's own database.
PASSWORD = "scale-bench-password"  # noqa: S105
# Closed cases end at least this long before the build; open ones were filed in the last week.
CLOSED_BEFORE = timedelta(days=3)
OPEN_WITHIN = timedelta(days=7)
# The province: cities laid out in rows of five, each about 100 x 90 km.
PROVINCE_WEST, PROVINCE_SOUTH = 116.4, 31.6
CITY_WIDTH, CITY_HEIGHT = 1.0, 0.8
CITY_COLUMNS = 5
# Big tables: their secondary indexes and constraints are dropped for the load, then rebuilt.
BIG_TABLES = (
    "accounts_unit",
    "search_case",
    "search_searcharea",
    "search_sector",
    "search_task",
    "search_caseevent",
    "search_sighting",
    "search_alert",
    "search_crisiscontact",
)

CITY_NAMES = ["彭城", "淮州", "海陵", "江阳", "云台", "泗水", "金陵", "毗陵", "吴门", "润州"]
CITY_NAMES_EN = [
    "Pengcheng", "Huaizhou", "Hailing", "Jiangyang", "Yuntai",
    "Sishui", "Jinling", "Piling", "Wumen", "Runzhou",
]  # fmt: skip
PARTNERS = [("SD", "鲁南市 Lunan City"), ("AH", "皖北市 Wanbei City"), ("ZJ", "浙西市 Zhexi City")]
SURNAMES = [
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "高",
    "林",
    "罗",
    "郑",
    "梁",
    "谢",
    "宋",
    "唐",
    "许",
    "韩",
    "冯",
    "邓",
    "曹",
]
GIVEN_OLD = [
    "秀英",
    "秀兰",
    "桂英",
    "玉兰",
    "建华",
    "建国",
    "志强",
    "淑珍",
    "凤英",
    "国强",
    "玉珍",
    "德胜",
    "桂兰",
    "春生",
    "秀珍",
]
GIVEN_ADULT = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
    "平",
    "刚",
    "海燕",
    "晓东",
]
GIVEN_YOUNG = [
    "子涵",
    "浩然",
    "欣怡",
    "梓轩",
    "雨涵",
    "一诺",
    "宇航",
    "佳怡",
    "俊杰",
    "梓涵",
    "诗涵",
    "浩宇",
    "子轩",
    "若汐",
    "沐宸",
]
ROADS = [
    "人民路",
    "解放路",
    "建设路",
    "中山路",
    "和平路",
    "新华路",
    "青年路",
    "胜利路",
    "长江路",
    "淮海路",
    "文化路",
    "健康路",
]

# (value, weight): the bench's assumed mix (nothing published gives one). Found dead: 3 %, below
# misper.uk's 15.8 % for dementia alone (shared/data/search-facts.md), as most cases are not.
CATEGORIES = [
    ("dementia", 24), ("adult", 20), ("youth", 13), ("despondent", 12), ("child", 8),
    ("intellectual_disability", 7), ("young_child", 6), ("autism", 5), ("other", 5),
]  # fmt: skip
OUTCOMES = [
    ("found_well", 60), ("returned", 14), ("found_needs_care", 12), ("withdrawn", 6),
    ("found_injured", 5), ("found_deceased", 3),
]  # fmt: skip
AGES = {
    "young_child": (1, 6), "child": (7, 12), "youth": (13, 17), "adult": (18, 64),
    "dementia": (65, 94), "autism": (6, 35), "intellectual_disability": (10, 60),
    "despondent": (16, 75), "other": (18, 85),
}  # fmt: skip
CATEGORY_RATING = {
    "young_child": 1, "dementia": 1, "despondent": 1, "autism": 1,
    "intellectual_disability": 1, "child": 2, "youth": 2, "other": 2, "adult": 3,
}  # fmt: skip
UNIT_KINDS = [("patrol", 40), ("volunteer", 25), ("station", 20), ("drone", 6), ("k9", 5),
              ("boat", 4)]  # fmt: skip
UNIT_CAPABILITIES = {
    "patrol": ["search", "vehicle"], "volunteer": ["search"], "station": ["search", "medical"],
    "drone": ["drone"], "k9": ["search", "k9"], "boat": ["boat", "search"],
}  # fmt: skip


@dataclass(frozen=True)
class Scale:
    """What to build; the defaults are the province of the performance issue."""

    cases: int = 1_000_000
    open_cases: int = 2_000
    units: int = 100_000
    tasks: int = 10_000_000
    events: int = 10_000_000
    cities: int = 10
    counties: int = 10
    years: int = 5
    aid_requests: int = 3_000
    orders: int = 2_000

    @classmethod
    def proportional(cls, cases: int, **given: int) -> "Scale":
        """Return the province with `cases` closed cases and everything else in the default
        proportions (ten tasks and ten events a case, a unit per ten cases...), unless given."""
        given = {name: value for name, value in given.items() if value is not None}
        full = cls()
        share = cases / full.cases
        derived = {
            "cases": cases,
            "tasks": cases * (full.tasks // full.cases),
            "events": cases * (full.events // full.cases),
            "open_cases": max(20, round(full.open_cases * share)),
            "aid_requests": max(10, round(full.aid_requests * share)),
            "orders": max(10, round(full.orders * share)),
        }
        cities = given.get("cities", full.cities)
        counties = given.get("counties", full.counties)
        derived["units"] = max(4 * cities * counties, round(full.units * share))
        return cls(**{**derived, **given})

    def check(self) -> None:
        if not 1 <= self.cities <= len(CITY_NAMES):
            raise ValueError(f"cities must be 1 to {len(CITY_NAMES)}")
        if not 1 <= self.counties <= 26:
            raise ValueError("counties (per city) must be 1 to 26")
        if self.cases < 1 or self.years < 1:
            raise ValueError("cases and years must be at least 1")
        per_case = self.tasks / self.cases
        if not 1 <= per_case <= MAX_TASKS_PER_CASE / 2:
            raise ValueError(f"tasks per closed case must be 1 to {MAX_TASKS_PER_CASE // 2}")
        if self.events < MIN_EVENTS_PER_CASE * self.cases:
            raise ValueError(f"events must be at least {MIN_EVENTS_PER_CASE} per closed case")
        if self.units_per_county < 4:
            raise ValueError("units must be at least 4 per county (a sector's offers differ)")

    @property
    def county_count(self) -> int:
        return self.cities * self.counties

    @property
    def units_per_county(self) -> int:
        return self.units // self.county_count


@dataclass
class Step:
    """Statements run in order on one connection, after the named steps, holding the tables."""

    name: str
    statements: list[str]
    after: set[str] = field(default_factory=set)
    tables: set[str] = field(default_factory=set)


@dataclass
class County:
    index: int
    org_id: int
    city_index: int
    city_org_id: int
    code: str
    name: str
    bbox: tuple[float, float, float, float]
    users: dict[str, int] = field(default_factory=dict)


def migrations_fingerprint() -> str:
    """Return a hash of the migrations on disk, their names and their text: a reused database
    must have today's schema, and an index changed inside a migration changes the schema too."""
    import inspect

    from django.db.migrations.loader import MigrationLoader

    digest = hashlib.sha256()
    for (app, name), migration in sorted(MigrationLoader(None).disk_migrations.items()):
        digest.update(f"{app}.{name}\n".encode())
        digest.update(inspect.getsource(inspect.getmodule(migration)).encode())
    return digest.hexdigest()[:16]


def connect(dsn: str) -> psycopg.Connection:
    conn = psycopg.connect(dsn, autocommit=True)
    # Written once, read many times, rebuilt rather than recovered: no wait for the WAL flush.
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET maintenance_work_mem = '768MB'")
    # Two builder connections already use both cores.
    conn.execute("SET max_parallel_maintenance_workers = 0")
    conn.execute("SET max_parallel_workers_per_gather = 0")
    conn.execute("SET jit = off")
    return conn


def choice_sql(u: str, options: list[tuple[str, int]]) -> str:
    """Return a CASE expression picking a value by weight from the uniform draw `u`."""
    total = sum(weight for _, weight in options)
    parts, running = [], 0
    for value, weight in options[:-1]:
        running += weight
        parts.append(f"WHEN {u} < {running / total!r} THEN '{value}'")
    return f"(CASE {' '.join(parts)} ELSE '{options[-1][0]}' END)"


def text_array(values: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


def pick_sql(u: str, values: list[str]) -> str:
    """Return an expression picking one of the values evenly by the uniform draw `u`."""
    return f"({text_array(values)})[1 + floor({u} * {len(values)})::int]"


def category_map_sql(column: str, mapping: dict[str, object]) -> str:
    whens = " ".join(f"WHEN '{key}' THEN {value}" for key, value in mapping.items())
    return f"(CASE {column} {whens} END)"


def polygon_wkt(points: list[tuple[float, float]]) -> str:
    ring = [*points, points[0]]
    return "POLYGON((" + ",".join(f"{x:.6f} {y:.6f}" for x, y in ring) + "))"


def unit_circle(sides: int) -> str:
    return polygon_wkt(
        [
            (math.cos(2 * math.pi * i / sides), math.sin(2 * math.pi * i / sides))
            for i in range(sides)
        ]
    )


def box_wkt(west: float, south: float, east: float, north: float) -> str:
    return polygon_wkt([(west, south), (east, south), (east, north), (west, north)])


class Builder:
    """Fill a migrated, empty database with the province; `build()` returns the row counts."""

    def __init__(self, dsn: str, scale: Scale, *, jobs: int = 2, log=None, now=None):
        scale.check()
        self.dsn = dsn
        self.scale = scale
        self.jobs = jobs
        self.log = log or (lambda message: None)
        # Whole seconds: the same instant reads the same in SQL and in Python.
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)
        self.counties: list[County] = []

    # -- the plan ---------------------------------------------------------------------------

    def build(self) -> dict[str, int]:
        started = time.monotonic()
        with connect(self.dsn) as conn:
            self._functions(conn)
            self._organisations(conn)
            self._users(conn)
            self._county_table(conn)
            saved = self._strip_big_tables(conn)
            self._step(conn, "units", self._units_sql())
            self._step(conn, "plan", self._plan_sql())
        # Longest first, so that both connections finish together. Aid requests and orders keep
        # their foreign key to the case: they wait for the cases.
        loads = [
            Step("events", self._events_sql()),
            Step("tasks", self._tasks_sql()),
            Step("sectors", self._sectors_sql()),
            Step("cases", self._cases_sql()),
            Step("areas", self._areas_sql()),
            Step("sightings", self._sightings_sql()),
            Step("alerts", self._alerts_sql()),
            Step("contacts", self._contacts_sql()),
            Step("counters", self._counters_sql()),
            Step("aid", self._aid_sql(), after={"cases"}),
            Step("orders", self._orders_sql(), after={"cases"}),
        ]
        self._run_steps(loads + self._index_steps(saved))
        with connect(self.dsn) as conn:
            # Back as NOT VALID first (instant), then validated side by side: VALIDATE locks
            # the referenced table only lightly, so checks on different tables do not queue.
            for _, kind, definition in saved:
                if kind == "fk":
                    conn.execute(definition + " NOT VALID")
        self._run_steps(
            [
                Step(f"check {name}", [f'ALTER TABLE {table} VALIDATE CONSTRAINT "{name}"'],
                     tables={table})
                for table, kind, name in (
                    (t, k, d.split('"')[1]) for t, k, d in saved if k == "fk"
                )
            ]
        )  # fmt: skip
        with connect(self.dsn) as conn:
            self._step(conn, "sequences", self._sequences_sql())
            counts = self.counts(conn)
            conn.execute("DROP TABLE bench_scale.plan, bench_scale.county")
        # As autovacuum would in time: hint bits set, visibility map and statistics made.
        self._run_steps(
            [Step(f"vacuum {t}", [f"VACUUM (ANALYZE) {t}"]) for t in self._all_tables()]
        )
        self.log(f"built in {time.monotonic() - started:.0f} s")
        return counts

    def _step(self, conn: psycopg.Connection, name: str, statements: list[str]) -> None:
        started = time.monotonic()
        for sql in statements:
            conn.execute(sql)
        self.log(f"  {name}: {time.monotonic() - started:.1f} s")

    def _run_steps(self, steps: list["Step"]) -> None:
        """Run the steps on `jobs` connections: each takes the first step whose steps before it
        are done and whose tables no running step holds."""
        pending = list(steps)
        done: set[str] = set()
        held: set[str] = set()
        ready = threading.Condition()
        errors: list[BaseException] = []

        def take() -> Step | None:
            with ready:
                while True:
                    if errors or not pending:
                        return None
                    for step in pending:
                        if step.after <= done and not step.tables & held:
                            pending.remove(step)
                            held.update(step.tables)
                            return step
                    ready.wait(0.5)

        def worker():
            with connect(self.dsn) as conn:
                while (step := take()) is not None:
                    try:
                        self._step(conn, step.name, step.statements)
                    except BaseException as exc:  # noqa: BLE001 - re-raised below
                        errors.append(exc)
                    with ready:
                        held.difference_update(step.tables)
                        done.add(step.name)
                        ready.notify_all()

        threads = [threading.Thread(target=worker) for _ in range(self.jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _all_tables(self) -> list[str]:
        small = ["accounts_organisation", "accounts_user", "accounts_user_groups",
                 "accounts_partner", "search_mutualaidrequest", "search_outboxmessage",
                 "search_inboxmessage", "search_supervisionorder",
                 "search_casereferencecounter"]  # fmt: skip
        return [*BIG_TABLES, *small]

    # -- helpers in SQL -------------------------------------------------------------------

    def _functions(self, conn: psycopg.Connection) -> None:
        s = self.scale
        tpc, epc = s.tasks / s.cases, s.events / s.cases
        conn.execute(
            """
            CREATE OR REPLACE FUNCTION bench_scale.u(k bigint, salt int) RETURNS float8
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
            $$ SELECT ((hashint8extended(k, salt) >> 11) & 9007199254740991)::float8
                      / 9007199254740992.0 $$
            """
        )
        # A normal draw (Box-Muller) from two uniform ones.
        conn.execute(
            """
            CREATE OR REPLACE FUNCTION bench_scale.n(k bigint, salt int) RETURNS float8
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
            $$ SELECT sqrt(-2 * ln(1 - bench_scale.u(k, salt)))
                      * cos(2 * pi() * bench_scale.u(k, salt + 1000)) $$
            """
        )
        # Per-case counts that add up exactly: the i-th case's share of the total, give or take
        # a deviation that its pair (i-1 or i+1) takes back.
        for name, per_case, low in (("n_tasks", tpc, 1), ("n_events", epc, MIN_EVENTS_PER_CASE)):
            conn.execute(
                f"""
                CREATE OR REPLACE FUNCTION bench_scale.{name}(i bigint) RETURNS int
                LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
                $$ SELECT (floor(i * {per_case!r}) - floor((i - 1) * {per_case!r}))::int
                     + CASE WHEN i = {s.cases} AND i % 2 = 1 THEN 0
                            WHEN i % 2 = 1 THEN 1 ELSE -1 END
                       * floor(bench_scale.u((i + 1) / 2, 7)
                               * (floor({per_case!r}) - {low} + 1))::int $$
                """
            )

    def _organisations(self, conn: psycopg.Connection) -> None:
        """Write the cities (rectangles), their counties (a grid inside) and three partners."""
        s = self.scale
        columns = math.ceil(math.sqrt(s.counties))
        rows = math.ceil(s.counties / columns)
        orgs, next_id = [], 1
        city_ids = []
        for c in range(s.cities):
            west = PROVINCE_WEST + (c % CITY_COLUMNS) * CITY_WIDTH
            south = PROVINCE_SOUTH + (c // CITY_COLUMNS) * CITY_HEIGHT
            code = "C" + chr(ord("A") + c)
            name = f"{CITY_NAMES[c]}市 {CITY_NAMES_EN[c]} City"
            bbox = (west, south, west + CITY_WIDTH, south + CITY_HEIGHT)
            orgs.append((next_id, name, code, "city", None, bbox))
            city_ids.append(next_id)
            next_id += 1
        for c in range(s.cities):
            west, south = orgs[c][5][0], orgs[c][5][1]
            w, h = CITY_WIDTH / columns, CITY_HEIGHT / rows
            for k in range(s.counties):
                x, y = k % columns, k // columns
                bbox = (west + x * w, south + y * h, west + (x + 1) * w, south + (y + 1) * h)
                code = orgs[c][2] + chr(ord("A") + k)
                name = f"{CITY_NAMES[c]}第{k + 1}县 {CITY_NAMES_EN[c]} County {k + 1}"
                orgs.append((next_id, name, code, "county", city_ids[c], bbox))
                self.counties.append(
                    County(len(self.counties), next_id, c, city_ids[c], code, name, bbox)
                )
                next_id += 1
        # Partner cities beyond the province's western, southern and eastern edges.
        east = PROVINCE_WEST + min(s.cities, CITY_COLUMNS) * CITY_WIDTH
        partner_boxes = [
            (PROVINCE_WEST - 1.0, PROVINCE_SOUTH, PROVINCE_WEST, PROVINCE_SOUTH + 1.6),
            (PROVINCE_WEST, PROVINCE_SOUTH - 0.8, PROVINCE_WEST + 2.0, PROVINCE_SOUTH),
            (east, PROVINCE_SOUTH, east + 1.0, PROVINCE_SOUTH + 1.6),
        ]
        self.partner_org_ids = []
        for (code, name), bbox in zip(PARTNERS, partner_boxes, strict=True):
            orgs.append((next_id, name, code, "city", None, bbox))
            self.partner_org_ids.append(next_id)
            next_id += 1
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO accounts_organisation (id, name, code, level, parent_id, jurisdiction)"
                " VALUES (%s, %s, %s, %s, %s, ST_Multi(ST_GeomFromText(%s, 4326)))",
                [(i, n, code, lvl, p, box_wkt(*b)) for i, n, code, lvl, p, b in orgs],
            )
            cur.executemany(
                "INSERT INTO accounts_partner (organisation_id, base_url, region,"
                " outbound_api_key, signing_secret, signing_secret_previous, allowed_fields,"
                " auto_send, is_active)"
                " VALUES (%s, %s, ST_Multi(ST_GeomFromText(%s, 4326)), '', %s, '', %s, false,"
                " true)",
                [
                    (org_id, f"http://127.0.0.1:9/{code.lower()}/api/v1/", box_wkt(*box),
                     "whsec_" + hashlib.sha256(code.encode()).hexdigest()[:32],
                     ["category", "sex", "estimated_age", "clothing"])
                    for org_id, (code, _), box in zip(
                        self.partner_org_ids, PARTNERS, partner_boxes, strict=True
                    )
                ],
            )  # fmt: skip
            cur.execute(
                "SELECT setval(pg_get_serial_sequence('accounts_organisation', 'id'), %s)",
                [next_id - 1],
            )

    def _users(self, conn: psycopg.Connection) -> None:
        """Write the people who sign in and act: per city a coordinator, a supervisor and a
        counsellor; per county a clerk, a coordinator and a field member."""
        from django.contrib.auth.hashers import make_password

        # One hash for all: hashing is slow on purpose, and these are bench accounts.
        password = make_password(PASSWORD)
        wanted = []
        for c in range(self.scale.cities):
            county = self.counties[c * self.scale.counties]
            city_code = county.code[:-1]
            for role in ("coordinator", "supervisor", "counsellor"):
                wanted.append((f"{city_code.lower()}-{role}", role, county.city_org_id, None))
        for county in self.counties:
            for role in ("clerk", "coordinator", "field"):
                wanted.append((f"{county.code.lower()}-{role}", role, county.org_id, county))
        city_users: dict[tuple[int, str], int] = {}
        with conn.cursor() as cur:
            for username, role, org_id, county in wanted:
                cur.execute(
                    "INSERT INTO accounts_user (password, is_superuser, username, first_name,"
                    " last_name, email, is_staff, is_active, date_joined, organisation_id, phone)"
                    " VALUES (%s, false, %s, %s, %s, '', false, true, %s, %s, '') RETURNING id",
                    [password, username, role.title(), username.split("-")[0].upper(),
                     self.now - timedelta(days=365 * self.scale.years), org_id],
                )  # fmt: skip
                (user_id,) = cur.fetchone()
                cur.execute(
                    "INSERT INTO accounts_user_groups (user_id, group_id)"
                    " SELECT %s, id FROM auth_group WHERE name = %s",
                    [user_id, role],
                )
                if county is None:
                    city_users[(org_id, role)] = user_id
                else:
                    county.users[role] = user_id
        for county in self.counties:
            for role in ("coordinator", "supervisor", "counsellor"):
                county.users[f"city_{role}"] = city_users[(county.city_org_id, role)]

    def _county_table(self, conn: psycopg.Connection) -> None:
        conn.execute(
            """
            CREATE UNLOGGED TABLE bench_scale.county (
                k int PRIMARY KEY, org_id int, city_org_id int, code text, place text,
                west float8, south float8, east float8, north float8,
                clerk_id int, coordinator_id int, field_id int,
                city_coordinator_id int, city_supervisor_id int, city_counsellor_id int,
                first_unit bigint)
            """
        )
        upc = self.scale.units_per_county
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_scale.county VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (c.index, c.org_id, c.city_org_id, c.code, c.name.split()[0], *c.bbox,
                     c.users["clerk"], c.users["coordinator"], c.users["field"],
                     c.users["city_coordinator"], c.users["city_supervisor"],
                     c.users["city_counsellor"], c.index * upc + 1)
                    for c in self.counties
                ],
            )  # fmt: skip

    # -- dropping and restoring what slows a load ------------------------------------------

    def _strip_big_tables(self, conn: psycopg.Connection) -> list[tuple[str, str, str]]:
        """Drop the big tables' secondary indexes and their unique and foreign-key constraints;
        return (table, kind, definition) to put back, as the migrations made them."""
        saved: list[tuple[str, str, str]] = []
        tables = list(BIG_TABLES)
        rows = conn.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, c.contype,
                   pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('u', 'f')
            ORDER BY c.contype DESC, c.conname
            """,
            [tables],
        ).fetchall()
        for table, name, kind, definition in rows:
            saved.append((table, "constraint" if kind == "u" else "fk",
                          f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))  # fmt: skip
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        indexes = conn.execute(
            """
            SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
              -- Partial indexes stay: they hold few rows (open tasks, the current area), and
              -- one rebuilt from its definition would read back worded differently.
              AND i.indexdef NOT LIKE '%% WHERE %%'
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                              WHERE c.conname = i.indexname AND c.contype = 'p')
            ORDER BY i.indexname
            """,
            [tables],
        ).fetchall()
        for table, name, definition in indexes:
            saved.append((table, "index", definition))
            conn.execute(f'DROP INDEX "{name}"')
        return saved

    def _index_steps(self, saved: list[tuple[str, str, str]]) -> list["Step"]:
        """Return a step per index and unique constraint, each after its table's load, the
        biggest tables' first."""
        loaded_by = {
            "search_case": "cases", "search_searcharea": "areas", "search_sector": "sectors",
            "search_task": "tasks", "search_caseevent": "events", "search_sighting": "sightings",
            "search_alert": "alerts", "search_crisiscontact": "contacts",
        }  # fmt: skip
        biggest = ["search_caseevent", "search_task", "search_sector", "search_case"]
        steps = []
        for table, kind, definition in sorted(
            saved, key=lambda item: biggest.index(item[0]) if item[0] in biggest else 9
        ):
            if kind == "fk":
                continue
            name = (definition.split(" ON ")[0].split()[-1] if kind == "index"
                    else definition.split()[5])  # fmt: skip
            after = {loaded_by[table]} if table in loaded_by else set()
            steps.append(Step(f"{kind} {name}", [definition], after=after))
        return steps

    # -- the data --------------------------------------------------------------------------

    def _units_sql(self) -> list[str]:
        upc = self.scale.units_per_county
        width = max(4, len(str(upc)))
        kind = choice_sql(f"bench_scale.u(k.k * {upc} + n, 21)", UNIT_KINDS)
        caps = " ".join(
            f"WHEN '{k}' THEN ARRAY{v}::varchar[]" for k, v in UNIT_CAPABILITIES.items()
        )
        return [
            f"""
            INSERT INTO accounts_unit (id, organisation_id, name, kind, home_area, capabilities,
                availability, last_position, last_position_at, notify_email)
            SELECT id, org_id,
                code || '-' || upper(left(kind, 1)) || lpad(n::text, {width}, '0'),
                kind,
                ST_MakeEnvelope(x - hw, y - hw * 0.8, x + hw, y + hw * 0.8, {SRID}),
                CASE kind {caps} END,
                {
                choice_sql(
                    "bench_scale.u(id, 23)", [("available", 70), ("off_duty", 20), ("busy", 10)]
                )
            },
                CASE WHEN bench_scale.u(id, 24) < 0.6 THEN ST_SetSRID(ST_MakePoint(
                    x + (bench_scale.u(id, 25) - 0.5) * hw,
                    y + (bench_scale.u(id, 26) - 0.5) * hw * 0.8), {SRID})::geography END,
                CASE WHEN bench_scale.u(id, 24) < 0.6 THEN
                    '{self.now.isoformat()}'::timestamptz
                    - bench_scale.u(id, 27) * interval '2 hours' END,
                ''
            FROM (
                SELECT k.k * {upc} + n AS id, n, k.org_id, k.code,
                    {kind} AS kind,
                    0.02 + 0.03 * bench_scale.u(k.k * {upc} + n, 22) AS hw,
                    k.west + 0.05 + bench_scale.u(k.k * {upc} + n, 28) * (k.east - k.west - 0.1)
                        AS x,
                    k.south + 0.04 + bench_scale.u(k.k * {upc} + n, 29) * (k.north - k.south - 0.08)
                        AS y
                FROM bench_scale.county k CROSS JOIN generate_series(1, {upc}) n
            ) t
            """
        ]

    def _plan_sql(self) -> list[str]:
        """Write bench_scale.plan: one narrow row per case with every draw the tables share."""
        s = self.scale
        counties = s.county_count
        span = timedelta(days=365.25 * s.years) - CLOSED_BEFORE
        start = self.now - timedelta(days=365.25 * s.years)
        category = choice_sql("bench_scale.u(i, 3)", CATEGORIES)
        outcome = choice_sql("bench_scale.u(i, 4)", OUTCOMES)
        low = category_map_sql("category", {k: v[0] for k, v in AGES.items()})
        high = category_map_sql("category", {k: v[1] for k, v in AGES.items()})
        rating = category_map_sql("category", CATEGORY_RATING)
        total_open = s.cases + s.open_cases
        return [
            f"""
            CREATE UNLOGGED TABLE bench_scale.plan AS
            SELECT p.*,
                least(p.created_at
                      -- Median 4 h, 2 to 3 % beyond a day (Shenyang: 13,898 of 14,239 found
                      -- within 24 hours, shared/data/search-facts.md).
                      + greatest(interval '20 minutes',
                                 interval '4 hours' * exp(0.9 * bench_scale.n(i, 9))),
                      '{self.now.isoformat()}'::timestamptz - interval '2 hours') AS located_raw
            FROM (
                SELECT i, i > {s.cases} AS is_open, k, category, terrain, weather,
                    CASE WHEN i > {s.cases} THEN '' ELSE {outcome} END AS outcome,
                    CASE WHEN i <= {s.cases} THEN 'closed'
                         WHEN bench_scale.u(i, 5) < 0.15 THEN 'open' ELSE 'active' END AS status,
                    category = 'despondent' OR bench_scale.u(i, 13) < 0.02 AS self_harm,
                    age, dob_known, medical, medication, created_at,
                    created_at - elapsed AS last_seen_at,
                    (extract(epoch FROM elapsed) / 3600)::float8 AS elapsed_h,
                    -- Category 2x, age, medical, weather, elapsed: the app's triage, in SQL.
                    {rating} * 2
                    + CASE WHEN age < 13 OR age >= 75 THEN 1 ELSE 3 END
                    + CASE WHEN medical OR medication THEN 1 ELSE 3 END
                    + CASE weather WHEN 'severe' THEN 1 WHEN 'moderate' THEN 2 ELSE 3 END
                    + CASE WHEN elapsed >= interval '12 hours' THEN 1
                           WHEN elapsed >= interval '3 hours' THEN 2 ELSE 3 END AS total,
                    {rating} AS category_rating,
                    lon, lat
                FROM (
                    SELECT i, k, category, terrain, weather, created_at, age,
                        bench_scale.u(i, 14) < 0.7 AS dob_known,
                        category IN ('dementia', 'autism', 'intellectual_disability')
                            AND bench_scale.u(i, 15) < 0.6
                            OR bench_scale.u(i, 15) < 0.08 AS medical,
                        category = 'dementia' AND bench_scale.u(i, 16) < 0.5
                            OR bench_scale.u(i, 16) < 0.05 AS medication,
                        least(interval '15 minutes'
                              + interval '3 hours' * -ln(1 - bench_scale.u(i, 11)),
                              interval '72 hours') AS elapsed,
                        lon, lat
                    FROM (
                        SELECT i, k, category,
                            CASE WHEN bench_scale.u(i, 6) < 0.6 THEN 'urban' ELSE 'rural' END
                                AS terrain,
                            {
                choice_sql("bench_scale.u(i, 7)", [("none", 70), ("moderate", 22), ("severe", 8)])
            }
                                AS weather,
                            CASE WHEN i <= {s.cases}
                                 THEN '{start.isoformat()}'::timestamptz
                                      + ((i - 1) + bench_scale.u(i, 10))
                                        * interval '{span.total_seconds() / s.cases!r} seconds'
                                 ELSE '{self.now.isoformat()}'::timestamptz
                                      - interval '{OPEN_WITHIN.total_seconds()!r} seconds'
                                        * power(bench_scale.u(i, 10), 2)
                                      - interval '10 minutes' END AS created_at,
                            {low} + floor(bench_scale.u(i, 12) * ({high} - {low} + 1))::int
                                AS age,
                            west + 0.01 + bench_scale.u(i, 17) * (east - west - 0.02) AS lon,
                            south + 0.01 + bench_scale.u(i, 18) * (north - south - 0.02) AS lat
                        FROM (
                            SELECT i, floor(bench_scale.u(i, 1) * {counties})::int AS k,
                                   {category} AS category
                            FROM generate_series(1, {total_open}) i
                        ) a JOIN bench_scale.county USING (k)
                        OFFSET 0
                    ) b
                    OFFSET 0
                ) c
                OFFSET 0
            ) p
            """,
            # Times and counts that follow from the draws above.
            f"""
            CREATE UNLOGGED TABLE bench_scale.plan2 AS
            SELECT p.*,
                CASE WHEN self_harm OR category IN ('despondent', 'young_child') THEN 1
                     WHEN medication AND elapsed_h >= 3 AND total > 13 THEN 2
                     WHEN total <= 9 THEN 1 WHEN total <= 13 THEN 2 ELSE 3 END AS priority,
                CASE WHEN outcome = 'withdrawn' OR is_open THEN NULL ELSE located_raw END
                    AS located_at,
                CASE WHEN is_open THEN NULL
                     WHEN outcome = 'withdrawn'
                     THEN least(created_at + interval '1 hour' + bench_scale.u(i, 19)
                                * interval '11 hours',
                                '{self.now.isoformat()}'::timestamptz - interval '1 hour')
                     ELSE least(located_raw + interval '30 minutes'
                                + bench_scale.u(i, 19) * interval '12 hours',
                                '{self.now.isoformat()}'::timestamptz - interval '1 hour')
                END AS closed_at,
                CASE WHEN status = 'open' THEN 0
                     WHEN is_open THEN 3 + floor(bench_scale.u(i, 20) * 10)::int
                     ELSE bench_scale.n_tasks(i) END AS n_tasks,
                CASE WHEN status = 'open' THEN 2
                     WHEN is_open THEN 4 + floor(bench_scale.u(i, 30) * 5)::int
                     ELSE bench_scale.n_events(i) END AS n_events,
                sp.id AS profile_id, sp.p25_m, sp.p50_m, sp.p75_m, sp.p95_m,
                greatest(300, round(sp.speed_kmh * 1000 * greatest(elapsed_h, 0.5)))::int
                    AS cap_m
            FROM bench_scale.plan p
            JOIN search_subjectprofile sp USING (category, terrain)
            """,
            "DROP TABLE bench_scale.plan",
            # Where the case was filed, its reference (numbered per organisation and year in
            # filing order, as the counter hands them out), the work's span, the sectors.
            # In id order: every table is then written in filing order, as the app writes it.
            f"""
            CREATE UNLOGGED TABLE bench_scale.plan AS
            SELECT q.*,
                row_number() OVER w AS ref_number,
                org_code || '-' || year || '-' || lpad((row_number() OVER w)::text, 6, '0')
                    AS reference
            FROM (
                SELECT p.*, city_level,
                    CASE WHEN city_level THEN k.city_org_id ELSE k.org_id END AS org_id,
                    CASE WHEN city_level THEN left(k.code, -1) ELSE k.code END AS org_code,
                    extract(year FROM p.created_at AT TIME ZONE '{self.time_zone()}')::int
                        AS year,
                    CASE outcome WHEN 'withdrawn' THEN '报案人称已联系上'
                        WHEN 'returned' THEN '本人自行回家'
                        WHEN 'found_well' THEN '搜救队找到，身体无碍，已交家属'
                        WHEN 'found_needs_care' THEN '找到时体力不支，送医观察'
                        WHEN 'found_injured' THEN '找到时腿部受伤，已送医'
                        WHEN 'found_deceased' THEN '遗憾，找到时已无生命体征'
                        ELSE '' END AS outcome_note,
                    -- Sectors: one to three tasks each, on average two.
                    CASE WHEN status = 'open' THEN 3
                         ELSE greatest(1, least(n_tasks, {SECTOR_SLOTS},
                              ceil(n_tasks / (1 + 2 * bench_scale.u(i, 31)))::int)) END
                        AS n_sectors,
                    -- The span the work was done in: from the offers to the find (or now).
                    p.created_at + interval '2 minutes' AS w0,
                    coalesce(located_at, closed_at, '{self.now.isoformat()}'::timestamptz)
                        AS w1
                FROM bench_scale.plan2 p
                JOIN bench_scale.county k USING (k)
                CROSS JOIN LATERAL (SELECT bench_scale.u(i, 2) < 0.1 AS city_level) c
                OFFSET 0
            ) q
            WINDOW w AS (PARTITION BY org_id, year ORDER BY i)
            ORDER BY i
            """,
            "DROP TABLE bench_scale.plan2",
            "ALTER TABLE bench_scale.plan ADD PRIMARY KEY (i)",
            "ANALYZE bench_scale.plan",
        ]

    def _cases_sql(self) -> list[str]:
        tz = self.time_zone()
        ok = "bench_scale.u(i, 40)"
        return [
            f"""
            INSERT INTO search_case (id, reference, organisation_id, status, priority,
                computed_priority, priority_reasons, priority_override_reason, subject_name, sex,
                date_of_birth, estimated_age, height_cm, build, hair, clothing,
                distinguishing_marks, languages, photo, category, medical_needs, medication,
                self_harm_risk, field_notes, weather_exposure, last_seen_at, last_seen_point,
                last_seen_place, terrain, location_source, circumstances, reporter_name,
                reporter_phone, reporter_relation, report_channel, search_paused, outcome,
                outcome_note, closed_at, located_at, version, created_by_id, created_at,
                updated_at)
            SELECT i, reference, org_id, status,
                CASE WHEN overridden THEN greatest(1, priority - 1) ELSE priority END,
                priority,
                jsonb_build_array(
                    jsonb_build_object('code', 'category', 'value', category,
                                       'rating', category_rating),
                    jsonb_build_object('code', 'age', 'value', age,
                        'rating', CASE WHEN age < 13 OR age >= 75 THEN 1 ELSE 3 END),
                    CASE WHEN medical OR medication
                         THEN jsonb_build_object('code', 'medical', 'rating', 1)
                         ELSE jsonb_build_object('code', 'no_medical', 'rating', 3) END,
                    jsonb_build_object('code', 'weather', 'value', weather, 'rating',
                        CASE weather WHEN 'severe' THEN 1 WHEN 'moderate' THEN 2 ELSE 3 END),
                    jsonb_build_object('code', 'elapsed', 'value', round(elapsed_h::numeric, 1),
                        'rating', CASE WHEN elapsed_h >= 12 THEN 1
                                       WHEN elapsed_h >= 3 THEN 2 ELSE 3 END),
                    jsonb_build_object('code', 'total', 'value', total))
                || CASE WHEN self_harm OR category = 'despondent'
                        THEN '[{{"code": "rule_self_harm"}}]'::jsonb ELSE '[]' END
                || CASE WHEN category = 'young_child'
                        THEN '[{{"code": "rule_young_child"}}]'::jsonb ELSE '[]' END,
                CASE WHEN overridden THEN '家属提供新情况，提高优先级' ELSE '' END,
                {self.name_sql()},
                {
                choice_sql("bench_scale.u(i, 41)", [("male", 55), ("female", 44), ("unknown", 1)])
            },
                CASE WHEN dob_known THEN (created_at AT TIME ZONE '{tz}')::date
                     - (age * 365.25 + floor(bench_scale.u(i, 42) * 365))::int END,
                CASE WHEN NOT dob_known THEN age END,
                CASE WHEN age < 13 THEN 80 + age * 6 ELSE 150 + floor({ok} * 35)::int END,
                {pick_sql("bench_scale.u(i, 43)", ["偏瘦", "中等", "偏胖", "瘦高"])},
                CASE WHEN age >= 60 THEN
                    {pick_sql("bench_scale.u(i, 44)", ["灰白短发", "花白短发", "白发"])}
                     ELSE {pick_sql("bench_scale.u(i, 44)", ["黑色短发", "黑色长发", "马尾辫"])}
                END,
                {
                pick_sql(
                    "bench_scale.u(i, 45)",
                    [
                        "蓝色外套，黑色裤子，黑色布鞋",
                        "灰色羽绒服，深色裤子",
                        "红色上衣，牛仔裤，白色运动鞋",
                        "白色短袖，卡其色短裤",
                        "黑色夹克，灰色运动裤",
                        "校服（蓝白色），背黑色书包",
                    ],
                )
            },
                CASE WHEN bench_scale.u(i, 46) < 0.2 THEN '左手腕有疤痕' ELSE '' END,
                CASE WHEN bench_scale.u(i, 47) < 0.3 THEN '普通话、方言' ELSE '普通话' END,
                '', category,
                CASE WHEN medical THEN
                    CASE category WHEN 'dementia' THEN '阿尔茨海默病，定向力差'
                        WHEN 'autism' THEN '孤独症，对陌生人呼喊无反应'
                        ELSE '高血压、糖尿病' END ELSE '' END,
                CASE WHEN medication THEN '每日服药两次，已漏服' ELSE '' END,
                self_harm,
                CASE WHEN category IN ('dementia', 'autism')
                     THEN '称呼其名字，语气温和，不要追赶' ELSE '' END,
                weather, last_seen_at,
                ST_SetSRID(ST_MakePoint(lon, lat), {SRID})::geography,
                county_place || {pick_sql("bench_scale.u(i, 48)", ROADS)}
                    || (1 + floor(bench_scale.u(i, 49) * 300))::int || '号附近',
                terrain,
                {choice_sql("bench_scale.u(i, 50)", [("pin", 55), ("geocoded", 40), ("api", 5)])},
                {
                pick_sql(
                    "bench_scale.u(i, 51)",
                    [
                        "晚饭后独自外出散步未归",
                        "放学后未按时回家",
                        "与家人争吵后离家",
                        "在公园与家人走散",
                        "就医途中走失",
                        "早晨出门买菜后未归",
                        "在商场与家人走散",
                        "下班后失去联系",
                    ],
                )
            },
                {self.name_sql(salt=60)},
                '+8613' || lpad(floor(bench_scale.u(i, 52) * 1e9)::bigint::text, 9, '0'),
                CASE WHEN age < 18 THEN
                    {pick_sql("bench_scale.u(i, 53)", ["母亲", "父亲", "祖母"])}
                     WHEN age >= 60 THEN
                    {pick_sql("bench_scale.u(i, 53)", ["儿子", "女儿", "配偶"])}
                     ELSE {pick_sql("bench_scale.u(i, 53)", ["配偶", "父亲", "同事"])} END,
                {
                choice_sql(
                    "bench_scale.u(i, 54)",
                    [("phone_110", 68), ("walk_in", 14), ("online", 12), ("referral", 6)],
                )
            },
                false, outcome,
                outcome_note,
                closed_at, located_at,
                CASE WHEN is_open THEN 2 ELSE 4 END,
                CASE WHEN city_level THEN city_coordinator_id ELSE clerk_id END,
                created_at,
                coalesce(closed_at, created_at + interval '2 minutes')
            FROM (
                SELECT p.*, k.place AS county_place, k.clerk_id, k.city_coordinator_id,
                    bench_scale.u(i, 39) < 0.02 AND p.priority > 1 AS overridden
                FROM bench_scale.plan p JOIN bench_scale.county k USING (k)
                OFFSET 0
            ) t
            """
        ]

    def name_sql(self, salt: int = 0) -> str:
        """Return an expression for a Chinese name fitting the age (the reporter: an adult)."""
        surname = f"({text_array(SURNAMES)})[1 + floor(power(bench_scale.u(i, {70 + salt}), 1.6)" \
                  f" * {len(SURNAMES)})::int]"  # fmt: skip
        if salt:
            return surname + " || " + pick_sql(f"bench_scale.u(i, {71 + salt})", GIVEN_ADULT)
        given = (
            f"CASE WHEN age < 18 THEN {pick_sql('bench_scale.u(i, 71)', GIVEN_YOUNG)}"
            f" WHEN age >= 60 THEN {pick_sql('bench_scale.u(i, 71)', GIVEN_OLD)}"
            f" ELSE {pick_sql('bench_scale.u(i, 71)', GIVEN_ADULT)} END"
        )
        return f"{surname} || {given}"

    def time_zone(self) -> str:
        from django.conf import settings

        return settings.TIME_ZONE

    def _areas_sql(self) -> list[str]:
        circle = unit_circle(24)
        return [
            f"""
            INSERT INTO search_searcharea (id, case_id, version, previous_id, is_current, reason,
                centre, centred_at, computed_at, radii_m, cap_m, resolution, profile_id,
                boundary, note)
            SELECT i, i, 1, NULL, true, 'initial',
                ST_SetSRID(ST_MakePoint(lon, lat), {SRID})::geography, last_seen_at,
                created_at + interval '1 minute',
                jsonb_build_array(least(p25_m, cap_m), least(p50_m, cap_m),
                                  least(p75_m, cap_m), least(p95_m, cap_m)),
                cap_m, 9, profile_id,
                ST_Affine('SRID={SRID};{circle}'::geometry,
                          r / (111320 * cos(radians(lat))), 0, 0, r / 111320.0, lon, lat),
                ''
            FROM (SELECT *, least(p95_m, cap_m)::float8 AS r FROM bench_scale.plan) p
            """
        ]

    def _sector_rows(self) -> str:
        """Return a FROM clause with one row per sector: plan p, j, n_k (its number of tasks),
        and its centroid (cx, cy) and ring."""
        return f"""
            (SELECT p.*, j,
                (n_tasks / n_sectors + CASE WHEN j < n_tasks % n_sectors THEN 1 ELSE 0 END)
                    AS n_k,
                p.i * {SECTOR_SLOTS} + j AS sector_id,
                lon + d * cos(a) / (111320 * cos(radians(lat))) AS cx,
                lat + d * sin(a) / 111320 AS cy,
                CASE WHEN d <= least(p25_m, cap_m) THEN 1 WHEN d <= least(p50_m, cap_m) THEN 2
                     WHEN d <= least(p75_m, cap_m) THEN 3 ELSE 4 END AS ring
            FROM bench_scale.plan p
            CROSS JOIN generate_series(0, p.n_sectors - 1) j
            CROSS JOIN LATERAL (
                SELECT 2 * pi() * bench_scale.u(p.i * {SECTOR_SLOTS} + j, 80) AS a,
                       least(p75_m, cap_m)
                       * sqrt(bench_scale.u(p.i * {SECTOR_SLOTS} + j, 81)) AS d
                OFFSET 0) g
            ) s
        """

    def h3_sql(self, sector_id: str) -> str:
        # Shaped like a resolution-9 H3 index; unique by construction (an odd multiplier is a
        # bijection mod 2^40), not a real cell.
        return f"'89' || lpad(to_hex(({sector_id} * 2654435761) % 1099511627776), 10, '0') || 'fff'"

    def _sectors_sql(self) -> list[str]:
        hexagon = unit_circle(6)
        # Sectors whose last task was done are searched; open cases' sectors follow their task.
        return [
            f"""
            INSERT INTO search_sector (id, case_id, h3_index, area_id, ring, weight, status,
                in_current_area, coverage, required_capability, partner_id,
                outside_jurisdiction, centroid, boundary)
            SELECT sector_id, i, {self.h3_sql("sector_id")}, i, ring,
                round(((5 - ring) * (0.5 + bench_scale.u(sector_id, 82)) / 10)::numeric, 4),
                CASE WHEN status = 'open' THEN 'unassigned'
                     ELSE CASE last_status WHEN 'done' THEN 'searched' WHEN 'offered' THEN
                          'offered' WHEN 'accepted' THEN 'assigned' WHEN 'in_progress' THEN
                          'in_progress' ELSE 'unassigned' END END,
                true,
                CASE WHEN last_status = 'done' THEN last_coverage ELSE 0 END,
                CASE WHEN bench_scale.u(sector_id, 83) < 0.03 THEN 'boat' ELSE '' END,
                NULL, false,
                ST_SetSRID(ST_MakePoint(cx, cy), {SRID}),
                ST_Affine('SRID={SRID};{hexagon}'::geometry,
                          0.0017 / cos(radians(cy)), 0, 0, 0.0017, cx, cy)
            FROM (SELECT s.*, {self.task_status_sql("n_k")} AS last_status,
                         {self.coverage_sql(f"sector_id * {TASK_SLOTS} + n_k")} AS last_coverage
                  FROM {self._sector_rows()} OFFSET 0) s
            """
        ]

    def task_status_sql(self, rank: str) -> str:
        """Return the status of the task of sector row `s` with this rank."""
        task = f"(sector_id * {TASK_SLOTS} + {rank})"
        return f"""(CASE
            WHEN {rank} < n_k THEN CASE WHEN bench_scale.u({task}, 90) < 0.55
                                        THEN 'declined' ELSE 'expired' END
            WHEN NOT is_open THEN CASE WHEN bench_scale.u({task}, 91) < 0.88
                                       THEN 'done' ELSE 'cancelled' END
            ELSE {choice_sql(f"bench_scale.u({task}, 91)",
                             [("in_progress", 40), ("offered", 20), ("accepted", 20),
                              ("done", 20)])} END)"""  # fmt: skip

    def coverage_sql(self, task: str) -> str:
        return f"round((0.5 + 0.5 * bench_scale.u({task}, 92))::numeric, 2)::float8"

    def _tasks_sql(self) -> list[str]:
        task = f"sector_id * {TASK_SLOTS} + r"
        upc = self.scale.units_per_county
        return [
            f"""
            INSERT INTO search_task (id, case_id, sector_id, unit_id, status, rank, distance_m,
                offered_at, expires_at, answered_at, started_at, finished_at, last_activity_at,
                coverage, note, stale_flagged_at)
            SELECT id, i, sector_id, unit_id, st, r, distance_m, offered_at,
                offered_at + interval '3 minutes',
                CASE WHEN st IN ('declined', 'accepted', 'in_progress', 'done', 'cancelled')
                     THEN answered_at END,
                CASE WHEN st IN ('in_progress', 'done') THEN started_at END,
                CASE WHEN st = 'done' THEN finished_at END,
                CASE st WHEN 'done' THEN finished_at WHEN 'in_progress' THEN started_at
                        WHEN 'expired' THEN offered_at + interval '3 minutes'
                        WHEN 'offered' THEN offered_at
                        WHEN 'cancelled' THEN coalesce(closed_at, answered_at)
                        ELSE answered_at END,
                CASE WHEN st = 'done' THEN {self.coverage_sql("id")} END,
                CASE WHEN st = 'done' AND bench_scale.u(id, 93) < 0.1
                     THEN '河边芦苇较密，建议无人机复查' ELSE '' END,
                NULL
            FROM (
                SELECT t.*,
                    least(offered_at + (10 + 170 * bench_scale.u(id, 94)) * interval '1 second',
                          greatest(w1, offered_at)) AS answered_at,
                    least(offered_at + (5 + 10 * bench_scale.u(id, 95)) * interval '1 minute',
                          greatest(w1, offered_at)) AS started_at,
                    least(offered_at + (25 + 100 * bench_scale.u(id, 96)) * interval '1 minute',
                          greatest(w1, offered_at)) AS finished_at
                FROM (
                    SELECT s.*, r, {task} AS id,
                        first_unit + (floor(bench_scale.u(sector_id, 84) * {upc})::int + r)
                            % {upc} AS unit_id,
                        {self.task_status_sql("r")} AS st,
                        round((200 + 6000 * bench_scale.u({task}, 97))::numeric, 1)::float8
                            AS distance_m,
                        -- Sectors go out in the first third of the work; each re-offer
                        -- follows the expiry or decline of the one before.
                        least(w0 + (w1 - w0) * 0.3 * j / n_sectors
                                 + (r - 1) * interval '4 minutes',
                              greatest(w1 - interval '1 minute', w0)) AS offered_at
                    FROM {self._sector_rows()}
                    JOIN bench_scale.county k USING (k)
                    CROSS JOIN generate_series(1, s.n_k) r
                    OFFSET 0
                ) t
                OFFSET 0
            ) t
            """
        ]

    def _events_sql(self) -> list[str]:
        """Write each case's timeline.

        The hashes are unique and each event's prev_hash is the hash before it, but they are not
        SHA-256 over the content (computing a chain is one hash after another, per case): the
        bench's timelines do not verify as a chain, the app's own do.
        """
        upc = self.scale.units_per_county
        width = max(4, len(str(upc)))
        tz_sector = f"(i * {SECTOR_SLOTS} + (seq - 4) % n_sectors)"
        last_rank = (
            "(n_tasks / n_sectors + CASE WHEN (seq - 4) % n_sectors < n_tasks % n_sectors"
            " THEN 1 ELSE 0 END)"
        )
        task_id = f"({tz_sector} * {TASK_SLOTS} + {last_rank})"
        unit_id = (
            f"(first_unit + (floor(bench_scale.u({tz_sector}, 84) * {upc})::int"
            f" + {last_rank}) % {upc})"
        )
        kind = choice_sql(f"bench_scale.u({unit_id}, 21)", UNIT_KINDS)
        unit_name = (
            f"code || '-' || upper(left({kind}, 1)) || "
            f"lpad(({unit_id} - first_unit + 1)::text, {width}, '0')"
        )

        def hash_of(seq: str) -> str:
            return (
                f"md5(i || ':' || {seq}) || lpad(to_hex(i), 24, '0') || lpad(to_hex({seq}), 8, '0')"
            )

        found = {"found_well": "well", "found_needs_care": "needs_care",
                 "found_injured": "injured", "found_deceased": "deceased"}  # fmt: skip
        condition = category_map_sql("outcome", {k: f"'{v}'" for k, v in found.items()})
        point = "jsonb_build_array(round(lon::numeric, 6), round(lat::numeric, 6))"
        return [
            f"""
            INSERT INTO search_caseevent (case_id, seq, kind, actor_id, source, ip, data,
                created_at, prev_hash, hash)
            SELECT i, seq, kind,
                CASE role WHEN 'clerk' THEN CASE WHEN city_level THEN city_coordinator_id
                                                 ELSE clerk_id END
                    WHEN 'field' THEN field_id WHEN 'coordinator' THEN coordinator_id
                    WHEN 'counsellor' THEN city_counsellor_id END,
                CASE WHEN role = 'system' THEN 'system' ELSE 'web' END,
                CASE WHEN role = 'system' THEN NULL
                     ELSE ('10.' || k % 250 || '.' || (i % 250) || '.' || (1 + seq % 250))::inet
                END,
                data, at,
                CASE WHEN seq = 1 THEN '{"0" * 64}' ELSE {hash_of("(seq - 1)")} END,
                {hash_of("seq")}
            FROM (
                SELECT e.*,
                    CASE kind WHEN 'created' THEN 'clerk' WHEN 'area_computed' THEN 'system'
                        WHEN 'offers_made' THEN 'system' WHEN 'contact_attempt' THEN 'counsellor'
                        WHEN 'outcome_recorded' THEN 'coordinator'
                        WHEN 'withdrawn' THEN 'clerk'
                        WHEN 'task_changed' THEN CASE WHEN data ? 'expired' OR data ? 'cancelled'
                                                      THEN 'system' ELSE 'field' END
                        ELSE 'field' END AS role
                FROM (
                    SELECT p.i, p.k, seq, code, first_unit, clerk_id, field_id, coordinator_id,
                        city_coordinator_id, city_counsellor_id,
                        city_level,
                        CASE
                            WHEN seq = 1 THEN 'created'
                            WHEN seq = 2 THEN 'area_computed'
                            WHEN seq = 3 AND status <> 'open' THEN 'offers_made'
                            WHEN seq = n_events AND outcome = 'withdrawn' THEN 'withdrawn'
                            WHEN seq = n_events AND NOT is_open THEN 'outcome_recorded'
                            WHEN seq = n_events - 1 AND outcome LIKE 'found%'
                                THEN 'found_reported'
                            WHEN seq = n_events - 1 AND NOT is_open THEN 'task_changed'
                            WHEN self_harm AND seq % 5 = 0 THEN 'contact_attempt'
                            WHEN seq % 7 = 3 AND bench_scale.u(p.i, 100) < 0.25
                                THEN 'sighting_reported'
                            ELSE 'task_changed' END AS kind,
                        CASE
                            WHEN seq = 1 THEN jsonb_build_object('reference', p.reference,
                                'priority', p.priority, 'category', p.category)
                            WHEN seq = 2 THEN jsonb_build_object('version', 1,
                                'reason', 'initial', 'radii_m', jsonb_build_array(
                                    least(p25_m, cap_m), least(p50_m, cap_m),
                                    least(p75_m, cap_m), least(p95_m, cap_m)),
                                'sectors', n_sectors, 'added', n_sectors, 'retired', 0,
                                'tasks_cancelled', 0)
                            WHEN seq = 3 AND status <> 'open'
                                THEN jsonb_build_object('offers', n_sectors, 'waiting', 0)
                            WHEN seq = n_events AND outcome = 'withdrawn'
                                THEN jsonb_build_object('old_status', 'active',
                                    'reason', p.outcome_note)
                            WHEN seq = n_events AND NOT is_open
                                THEN jsonb_build_object('old_status',
                                    CASE WHEN outcome LIKE 'found%' THEN 'found'
                                         ELSE 'active' END,
                                    'outcome', outcome, 'note', p.outcome_note)
                            WHEN seq = n_events - 1 AND outcome LIKE 'found%'
                                THEN jsonb_build_object('sighting', p.i * 4 + 1,
                                    'condition', {condition}, 'with', '家属', 'at', {point})
                            WHEN seq = n_events - 1 AND NOT is_open
                                THEN jsonb_build_object('cancelled', 0,
                                    'reason', 'Case closed (' || outcome || ')')
                            WHEN self_harm AND seq % 5 = 0
                                THEN jsonb_build_object('channel', 'phone',
                                    'result', CASE WHEN seq % 2 = 0 THEN 'reached_family'
                                                   ELSE 'no_answer' END)
                            WHEN seq % 7 = 3 AND bench_scale.u(p.i, 100) < 0.25
                                THEN jsonb_build_object('sighting', p.i * 4 + 2,
                                    'kind', 'clue', 'confidence', 'possible', 'at', {point})
                            WHEN seq % 6 = 5 THEN jsonb_build_object('expired', 1)
                            ELSE jsonb_build_object('task', {task_id},
                                'sector', {self.h3_sql(tz_sector)}, 'unit', {unit_name},
                                'status', CASE WHEN seq - 4 < n_sectors THEN 'accepted'
                                               WHEN seq - 4 < 2 * n_sectors THEN 'in_progress'
                                               ELSE 'done' END)
                        END AS data,
                        CASE
                            WHEN seq = 1 THEN p.created_at
                            WHEN seq = n_events AND NOT is_open THEN p.closed_at
                            WHEN seq = n_events - 1 AND outcome LIKE 'found%'
                                THEN p.located_at
                            -- The area a minute after filing, the offers a minute later,
                            -- then the work spread until the find (or now).
                            WHEN seq <= 3 THEN p.created_at + (seq - 1) * interval '1 minute'
                            ELSE p.created_at + interval '3 minutes'
                                + (w1 - p.created_at - interval '3 minutes')
                                  * (seq - 3) / (n_events - 1)
                        END AS at
                    FROM bench_scale.plan p
                    JOIN bench_scale.county k USING (k)
                    CROSS JOIN generate_series(1, p.n_events) seq
                    OFFSET 0
                ) e
                OFFSET 0
            ) e
            """
        ]

    def _sightings_sql(self) -> list[str]:
        found = {"found_well": "well", "found_needs_care": "needs_care",
                 "found_injured": "injured", "found_deceased": "deceased"}  # fmt: skip
        condition = category_map_sql("outcome", {k: f"'{v}'" for k, v in found.items()})
        return [
            f"""
            INSERT INTO search_sighting (id, case_id, kind, point, seen_at, description, source,
                confidence, reported_by_id, unit_id, created_at, confirmed_at, photo, condition,
                with_whom, tip_phone)
            SELECT i * 4 + 1, i, 'found',
                ST_SetSRID(ST_MakePoint(lon + 0.004 * (bench_scale.u(i, 101) - 0.5),
                                        lat + 0.004 * (bench_scale.u(i, 102) - 0.5)),
                           {SRID})::geography,
                located_at, '在河堤附近找到', '搜救队', 'confirmed', field_id, NULL::bigint,
                located_at, located_at, '', {condition}, '家属', ''
            FROM bench_scale.plan JOIN bench_scale.county USING (k)
            WHERE outcome LIKE 'found%'
            UNION ALL
            SELECT i * 4 + 2, i, 'clue',
                ST_SetSRID(ST_MakePoint(lon + 0.01 * (bench_scale.u(i, 103) - 0.5),
                                        lat + 0.01 * (bench_scale.u(i, 104) - 0.5)),
                           {SRID})::geography,
                w0 + (w1 - w0) * 0.4, '监控显示其向东步行', '群众', 'possible', field_id, NULL,
                w0 + (w1 - w0) * 0.4, NULL, '', '', '', ''
            FROM bench_scale.plan JOIN bench_scale.county USING (k)
            WHERE bench_scale.u(i, 100) < 0.25 AND status <> 'open'
            """
        ]

    def _alerts_sql(self) -> list[str]:
        return [
            f"""
            INSERT INTO search_alert (case_id, task_id, kind, message, created_at,
                acknowledged_at)
            SELECT i, NULL, kind, message, at,
                CASE WHEN is_open AND bench_scale.u(i, 111) < 0.6 THEN NULL
                     ELSE at + interval '4 minutes' END
            FROM (
                SELECT i, is_open,
                    {
                choice_sql(
                    "bench_scale.u(i, 112)",
                    [
                        ("offer_expired", 50),
                        ("sighting", 20),
                        ("task_stale", 15),
                        ("no_units", 10),
                        ("found", 5),
                    ],
                )
            } AS kind,
                    w0 + (w1 - w0) * 0.5 AS at
                FROM bench_scale.plan
                WHERE status <> 'open' AND bench_scale.u(i, 110) < CASE WHEN is_open THEN 0.5
                                                                          ELSE 0.2 END
            ) a
            CROSS JOIN LATERAL (SELECT CASE kind
                WHEN 'offer_expired' THEN '1 offer(s) expired without an answer.'
                WHEN 'sighting' THEN 'Clue (Possible): 监控显示其向东步行'
                WHEN 'task_stale' THEN 'No activity on a task for 30 minutes.'
                WHEN 'no_units' THEN '1 sector(s) have no available unit whose area covers them.'
                ELSE 'Well; with 家属' END AS message OFFSET 0) m
            """
        ]

    def _contacts_sql(self) -> list[str]:
        return [
            """
            INSERT INTO search_crisiscontact (case_id, counsellor_id, attempted_at, channel,
                result, note)
            SELECT i, city_counsellor_id, w0 + (w1 - w0) * n / 3.0,
                CASE WHEN n = 1 THEN 'phone' ELSE 'sms' END,
                CASE WHEN n = 1 THEN 'no_answer' ELSE 'reached_family' END,
                CASE WHEN n = 2 THEN '家属表示已在寻找，保持联系' ELSE '' END
            FROM bench_scale.plan JOIN bench_scale.county USING (k)
            CROSS JOIN generate_series(1, 2) n
            WHERE self_harm AND status <> 'open'
            """
        ]

    def _aid_sql(self) -> list[str]:
        s = self.scale
        share = min(1.0, s.aid_requests / s.cases)
        partners = len(self.partner_org_ids)
        return [
            f"""
            INSERT INTO search_mutualaidrequest (uid, direction, partner_id, case_id, status,
                reason, decline_reason, summary, area, contact, requested_by_id, created_at,
                status_changed_at, last_message_at, last_message_type, seq_out, seq_in,
                escalated_at, acknowledged_at, accepted_at)
            SELECT gen_random_uuid(), 'outbound', partner_id, i, st,
                '搜索范围已延伸至贵市辖区，请求协助搜索',
                CASE WHEN st = 'declined' THEN '当前警力不足' ELSE '' END,
                jsonb_build_object('category', category, 'priority', priority),
                ST_Multi(ST_MakeEnvelope(lon - 0.05, lat - 0.04, lon + 0.05, lat + 0.04,
                                         {SRID})),
                jsonb_build_object('name', '值班指挥员', 'phone', '+8613800000000'),
                city_coordinator_id, asked_at,
                CASE WHEN st = 'sent' THEN asked_at ELSE asked_at + interval '20 minutes' END,
                asked_at + interval '20 minutes',
                CASE st WHEN 'completed' THEN 'closed' WHEN 'declined' THEN 'declined'
                        WHEN 'cancelled' THEN 'cancelled' WHEN 'active' THEN 'active'
                        WHEN 'accepted' THEN 'accepted' ELSE 'request' END,
                CASE WHEN st IN ('completed', 'cancelled') THEN 2 ELSE 1 END,
                CASE WHEN st IN ('sent', 'acknowledged') THEN 0 ELSE 1 END,
                NULL,
                CASE WHEN st <> 'sent' THEN asked_at + interval '8 seconds' END,
                CASE WHEN st IN ('completed', 'accepted', 'active')
                     THEN asked_at + (5 + 20 * bench_scale.u(i, 124)) * interval '1 minute' END
            FROM (
                SELECT p.*, k.city_coordinator_id,
                    (SELECT id FROM accounts_partner ORDER BY id
                     OFFSET floor(bench_scale.u(p.i, 121) * {partners})::int LIMIT 1)
                        AS partner_id,
                    least(w0 + interval '1 hour', w0 + (w1 - w0) * 0.3) AS asked_at,
                    CASE WHEN is_open THEN {
                choice_sql(
                    "bench_scale.u(i, 122)",
                    [("sent", 30), ("acknowledged", 20), ("accepted", 20), ("active", 30)],
                )
            }
                         ELSE {
                choice_sql(
                    "bench_scale.u(i, 122)",
                    [("completed", 55), ("cancelled", 25), ("declined", 20)],
                )
            } END AS st
                FROM bench_scale.plan p JOIN bench_scale.county k USING (k)
                WHERE status <> 'open'
                  AND bench_scale.u(i, 120) < CASE WHEN is_open THEN 0.05 ELSE {share!r} END
            ) a
            """,
            # What we sent: the request, and the closing message once the case ended.
            """
            INSERT INTO search_outboxmessage (uid, request_id, seq, type, body, created_at,
                attempts, next_attempt_at, delivered_at, failed_at, last_error, response_status,
                lease_token, lease_until)
            SELECT gen_random_uuid(), r.id, n.seq, n.type,
                jsonb_build_object('type', n.type, 'request_id', r.uid),
                r.created_at + n.after, n.attempts, r.created_at + n.after,
                CASE WHEN n.attempts = 1 THEN r.created_at + n.after + interval '2 seconds' END,
                NULL,
                CASE WHEN n.attempts > 1 THEN 'ConnectionError: connection refused' ELSE '' END,
                CASE WHEN n.attempts = 1 THEN 201 END, NULL, NULL
            FROM search_mutualaidrequest r
            CROSS JOIN LATERAL (
                SELECT 1 AS seq, 'request' AS type, interval '0 seconds' AS after,
                    CASE WHEN r.status = 'sent' AND bench_scale.u(r.case_id, 125) < 0.3 THEN 4
                         ELSE 1 END AS attempts
                UNION ALL
                SELECT 2, CASE r.status WHEN 'completed' THEN 'closed' ELSE 'cancelled' END,
                    interval '20 minutes', 1
                WHERE r.status IN ('completed', 'cancelled')
            ) n
            """,
        ]

    def _orders_sql(self) -> list[str]:
        s = self.scale
        share = min(1.0, s.orders / s.cases)
        return [
            f"""
            INSERT INTO search_supervisionorder (case_id, aid_request_id, issued_by_id,
                issuer_organisation_id, addressee_organisation_id, addressee_user_id,
                instruction, deadline, status, answer, answer_action, answered_by_id,
                reopen_reason, created_at, acknowledged_at, answered_at, closed_at,
                escalated_at, escalated_to_id, version)
            SELECT i, NULL, city_supervisor_id, city_org_id, org_id,
                CASE WHEN bench_scale.u(i, 131) < 0.5 THEN coordinator_id END,
                '请于期限内扩大搜索范围并报告进展', issued + interval '2 hours', st,
                CASE WHEN st IN ('answered', 'satisfied') THEN '已增派两支队伍，扩大搜索范围'
                     ELSE '' END,
                CASE WHEN st IN ('answered', 'satisfied') THEN 'units_added' ELSE '' END,
                CASE WHEN st IN ('answered', 'satisfied') THEN coordinator_id END,
                '', issued,
                CASE WHEN st <> 'issued' THEN issued + interval '10 minutes' END,
                CASE WHEN st IN ('answered', 'satisfied') THEN issued + interval '90 minutes'
                END,
                CASE WHEN st = 'satisfied' THEN issued + interval '100 minutes' END,
                CASE WHEN overdue THEN issued + interval '2 hours 1 minute' END,
                CASE WHEN overdue THEN city_org_id END,
                CASE st WHEN 'issued' THEN 1 WHEN 'acknowledged' THEN 2 ELSE 3 END
            FROM (
                SELECT p.*, k.city_supervisor_id, k.city_org_id,
                    CASE WHEN city_level THEN k.city_coordinator_id ELSE k.coordinator_id END
                        AS coordinator_id,
                    w0 + (w1 - w0) * 0.2 AS issued,
                    CASE WHEN NOT is_open THEN 'satisfied'
                         ELSE {
                choice_sql(
                    "bench_scale.u(i, 132)",
                    [("issued", 40), ("acknowledged", 30), ("answered", 30)],
                )
            } END
                        AS st,
                    is_open AND bench_scale.u(i, 132) < 0.7
                        AND w0 + (w1 - w0) * 0.2 + interval '2 hours'
                            < '{self.now.isoformat()}'::timestamptz AS overdue
                FROM bench_scale.plan p JOIN bench_scale.county k USING (k)
                WHERE status <> 'open'
                  AND bench_scale.u(i, 130) < CASE WHEN is_open THEN 0.1 ELSE {share!r} END
            ) o
            """
        ]

    def _counters_sql(self) -> list[str]:
        return [
            """
            INSERT INTO search_casereferencecounter (organisation_id, year, last_number)
            SELECT org_id, year, max(ref_number) FROM bench_scale.plan GROUP BY 1, 2
            """
        ]

    def _sequences_sql(self) -> list[str]:
        tables = [*BIG_TABLES, "accounts_user", "search_mutualaidrequest",
                  "search_outboxmessage", "search_supervisionorder",
                  "search_casereferencecounter", "accounts_partner"]  # fmt: skip
        return [
            f"SELECT setval(pg_get_serial_sequence('{t}', 'id'),"
            f" greatest(1, (SELECT max(id) FROM {t})))"
            for t in tables
        ]

    def counts(self, conn: psycopg.Connection) -> dict[str, int]:
        tables = {
            "cases": "search_case", "events": "search_caseevent", "tasks": "search_task",
            "units": "accounts_unit", "sectors": "search_sector",
            "aid_requests": "search_mutualaidrequest", "orders": "search_supervisionorder",
        }  # fmt: skip
        return {
            name: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for name, table in tables.items()
        }


def marker_read(conn: psycopg.Connection) -> dict | None:
    exists = conn.execute("SELECT to_regclass('bench_scale.build')").fetchone()[0]
    if not exists:
        return None
    row = conn.execute(
        "SELECT params, migrations, seconds, counts, built_at FROM bench_scale.build"
    ).fetchone()
    if row is None:
        return None
    params, migrations, seconds, counts, built_at = row
    return {"params": params, "migrations": migrations, "seconds": seconds, "counts": counts,
            "built_at": built_at}  # fmt: skip


def marker_write(conn: psycopg.Connection, scale: Scale, seconds: float, counts: dict) -> None:
    conn.execute(
        "CREATE TABLE bench_scale.build (params jsonb, migrations text, seconds float8,"
        " counts jsonb, built_at timestamptz)"
    )
    conn.execute(
        "INSERT INTO bench_scale.build VALUES (%s, %s, %s, %s, now())",
        [json.dumps(asdict(scale)), migrations_fingerprint(), seconds, json.dumps(counts)],
    )


def prepare_schema(conn: psycopg.Connection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS bench_scale")


def build(dsn: str, scale: Scale, *, jobs: int = 2, log: Callable[[str], None] | None = None,
          now: datetime | None = None, started: float | None = None,
          ) -> tuple[float, dict[str, int]]:  # fmt: skip
    """Fill the migrated, empty database at dsn and mark it built; return the seconds since
    `started` (a time.monotonic(), by default now) and the row counts."""
    started = time.monotonic() if started is None else started
    with connect(dsn) as conn:
        prepare_schema(conn)
    counts = Builder(dsn, scale, jobs=jobs, log=log, now=now).build()
    seconds = time.monotonic() - started
    with connect(dsn) as conn:
        marker_write(conn, scale, seconds, counts)
    return seconds, counts
