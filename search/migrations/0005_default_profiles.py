"""Default subject profiles, each with its source; administrators edit them in the admin."""

from django.db import migrations

ISRID = (
    "Koester, Lost Person Behavior (ISRID), as encoded by donal0c/sartracker LPBStatistics; "
    "not checked against the book (shared/data/search-facts.md)."
)
MISPER_UK = (
    "misper.uk table for people with dementia (279 cases): 20 % within 0.3 km, 50 % 1.2 km, "
    "80 % 5 km, 90 % 9.5 km; 25 % and 75 % interpolated, the 90 % figure used for 95 % "
    "(shared/data/search-facts.md)."
)
SPEED = "Travel speed: Beacon's starting assumption, not a published figure; adjust locally."

# category: (p25, p50, p75, p95, speed km/h, source note)
RURAL = {
    "young_child": (100, 300, 700, 1900, 1.0, "ISRID child 1-3."),
    "dementia": (100, 300, 800, 2000, 1.5, "ISRID dementia."),
    "autism": (200, 600, 1200, 2000, 2.0, "ISRID autistic."),
    "despondent": (200, 500, 1500, 3000, 2.5, "ISRID despondent."),
    "adult": (800, 2000, 4000, 8000, 3.0, "ISRID hiker, used as a proxy for adults."),
    "child": (200, 600, 1200, 2000, 2.5, "Proxy: ISRID autistic (no table for children 7-12)."),
    "youth": (200, 500, 1500, 3000, 3.0, "Proxy: ISRID despondent (no table for youths)."),
    "intellectual_disability": (
        200, 600, 1200, 2000, 2.0, "Proxy: ISRID autistic (no table for this category)."
    ),
    "other": (800, 2000, 4000, 8000, 3.0, "Proxy: ISRID hiker (no table for this category)."),
}
URBAN_OVERRIDES = {"dementia": (450, 1200, 4400, 9500, 3.0, "")}


def create_profiles(apps, schema_editor):
    SubjectProfile = apps.get_model("search", "SubjectProfile")
    for terrain in ("rural", "urban"):
        for category, row in RURAL.items():
            if terrain == "urban" and category in URBAN_OVERRIDES:
                p25, p50, p75, p95, speed, _ = URBAN_OVERRIDES[category]
                source = f"{MISPER_UK} {SPEED}"
            else:
                p25, p50, p75, p95, speed, note = row
                source = f"{note} {ISRID} {SPEED}"
                if terrain == "urban":
                    source = "No urban table: rural figures. " + source
            SubjectProfile.objects.get_or_create(
                category=category,
                terrain=terrain,
                defaults=dict(
                    p25_m=p25, p50_m=p50, p75_m=p75, p95_m=p95, speed_kmh=speed, source=source
                ),
            )


class Migration(migrations.Migration):
    dependencies = [("search", "0004_search_planning")]

    operations = [migrations.RunPython(create_profiles, migrations.RunPython.noop)]
