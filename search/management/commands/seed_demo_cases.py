"""A few demo cases, so every home page, the dashboard and the orders have something to show."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import Organisation, User
from search.geo import SRID
from search.models import Case
from search.services import intake, lifecycle, public, supervision
from search.services.timeline import Origin

# (name, category, age, hours since last seen, lon, lat, self-harm risk)
OPEN = [
    ("王小明", "young_child", 5, 1, 117.45, 34.30, False),
    ("李秀英", "dementia", 81, 5, 117.15, 34.25, False),
    ("张伟", "despondent", 29, 3, 117.40, 34.20, True),
    ("赵强", "adult", 45, 20, 117.20, 34.40, False),
]
# (name, category, age, outcome)
ENDED = [
    ("陈静", "child", 9, "found_well"),
    ("刘洋", "youth", 15, "returned"),
    ("孙丽", "adult", 38, "withdrawn"),
    ("周军", "adult", 52, "not_found"),
]


class Command(BaseCommand):
    help = "File a few demo cases (once: nothing happens if there are cases already)."

    def add_arguments(self, parser):
        parser.add_argument("--allow-production", action="store_true")

    def handle(self, *args: Any, allow_production: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not allow_production:
            raise CommandError("Refusing to file demo cases while DEBUG is off.")
        if Case.objects.exists():
            return
        with transaction.atomic():
            made = self.seed()
        if options["verbosity"] >= 1:
            self.stdout.write(f"seed_demo_cases: {made} demo cases filed")

    def seed(self) -> int:
        clerk = Origin(actor=User.objects.get(username="clerk"))
        coordinator = User.objects.get(username="coordinator")
        now = timezone.now()

        def file(name, category, age, hours, lon, lat, risk=False):
            values = {
                "subject_name": name,
                "sex": "unknown",
                "estimated_age": age,
                "category": category,
                "self_harm_risk": risk,
                "weather_exposure": "none",
                "last_seen_at": now - timedelta(hours=hours),
                "last_seen_point": Point(lon, lat, srid=SRID),
                "last_seen_place": "",
                "location_source": "pin",
                "reporter_name": "演示报案人",
                "reporter_phone": "+8613800138000",
                "report_channel": "phone_110",
            }
            return intake.case_open(origin=clerk, data=intake.CaseInput(values))

        opened = [file(*row) for row in OPEN]
        for name, category, age, outcome in ENDED:
            case = file(name, category, age, 2, 117.35, 34.35)
            if outcome == "withdrawn":
                lifecycle.case_withdraw(origin=clerk, case=case, reason="演示：误报")
            else:
                lifecycle.case_close(
                    origin=Origin(actor=coordinator), case=case, outcome=outcome, note="演示"
                )
        supervision.order_issue(
            origin=Origin(actor=User.objects.get(username="supervisor")),
            case=opened[1],
            instruction="扩大搜索范围至河道两岸，并在两小时内回复家属。",
            deadline=now + timedelta(hours=2),
            desk=Organisation.objects.get(pk=coordinator.organisation_id),
            person=coordinator,
        )
        # One public alert, so the feed and the public page show something at once.
        public.alert_publish(
            origin=Origin(actor=coordinator),
            case=opened[0],
            draft=public.AlertDraft(
                clearance=["given_name", "age", "clothing", "place", "phone"],
                texts={
                    "clothing": "红色外套，蓝色牛仔裤，白色运动鞋",
                    "place": "云龙区，彭园附近",
                    "phone": "0516-83000110",
                },
            ),
        )
        return len(OPEN) + len(ENDED)
