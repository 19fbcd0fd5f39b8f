"""The demo world that `seed_demo` builds: one city of two counties, a partner city next door."""

from dataclasses import dataclass

# Public demo passwords, printed by `make run`. seed_demo refuses to run with DEBUG off.
DEMO_USERS = {
    # username: (role, password, full name)
    "clerk": ("clerk", "beacon-clerk", "Demo Clerk 录入员"),
    "coordinator": ("coordinator", "beacon-coordinator", "Demo Coordinator 指挥员"),
    "field": ("field", "beacon-field", "Demo Field 搜救队员"),
    "counsellor": ("counsellor", "beacon-counsellor", "Demo Counsellor 心理援助"),
    "supervisor": ("supervisor", "beacon-supervisor", "Demo Supervisor 主管"),
    "dsx-coordinator": ("coordinator", "beacon-dsx", "Demo County Coordinator 东山县指挥员"),
}
# Users who work at a county desk rather than the city's: username -> county code. The county
# coordinator sees only that county's cases, and answers the orders the city sends down.
DEMO_USER_DESKS = {"dsx-coordinator": "DSX"}
DEMO_ADMIN = ("admin", "beacon-admin")


@dataclass(frozen=True)
class DemoArea:
    code: str
    name: str
    # (west, south, east, north) in degrees; boxes keep the demo legible and valid.
    bbox: tuple[float, float, float, float]


CITY = DemoArea("PC", "彭城市 Pengcheng City", (117.00, 34.00, 117.60, 34.50))
COUNTIES = (
    DemoArea("DSX", "东山县 Dongshan County", (117.30, 34.00, 117.60, 34.50)),
    DemoArea("XSX", "西山县 Xishan County", (117.00, 34.00, 117.30, 34.50)),
)
PARTNER = DemoArea("HS", "汉山市 Hanshan City", (117.00, 34.50, 117.60, 34.90))
PARTNER_BASE_URL = "http://127.0.0.1:8001/api/v1/"
UNITS_PER_COUNTY = 15
# A unit's home area: a box this many degrees wide (about 9 km at this latitude) around its base.
HOME_AREA_HALF_WIDTH = 0.05
RANDOM_SEED = 2026
