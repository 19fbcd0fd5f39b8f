"""Prepare one Beacon city for the two-city test; run inside that instance's environment.

    python -m tests.search.federation.instance origin PARTNER_URL SECRET
    python -m tests.search.federation.instance helper PARTNER_URL SECRET
    python -m tests.search.federation.instance link OUTBOUND_KEY

`origin` is the demo city (seed_demo) with Hanshan as its partner; `helper` is Hanshan, with
its own units near the border and the demo city as its partner. Each prints the API key it
issued to the other city; `link` stores the key the other city issued to this one.
"""

import json
import os
import sys

import django


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth.models import Group
    from django.contrib.gis.geos import MultiPolygon, Point, Polygon
    from django.core.management import call_command
    from django.utils import timezone

    from accounts import demo
    from accounts.models import Organisation, Partner, PartnerAPIKey, Unit, User
    from search.geo import SRID

    command = argv[0]
    if command == "link":
        Partner.objects.update(outbound_api_key=argv[1])
        return
    partner_url, secret = argv[1], argv[2]
    call_command("migrate", verbosity=0)

    def box(bbox):
        return MultiPolygon(Polygon.from_bbox(bbox), srid=SRID)

    if command == "origin":
        call_command("seed_demo", allow_production=True, verbosity=0)
        partner = Partner.objects.get(organisation__code=demo.PARTNER.code)
    else:
        city = Organisation.objects.create(
            code=demo.PARTNER.code,
            name=demo.PARTNER.name,
            level=Organisation.Level.CITY,
            jurisdiction=box(demo.PARTNER.bbox),
        )
        for username, (role, password, name) in demo.DEMO_USERS.items():
            user = User.objects.create_user(
                username, password=password, organisation=city, first_name=name
            )
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        field_user = User.objects.get(username="field")
        west, south, east, north = demo.PARTNER.bbox
        home = Polygon.from_bbox((117.15, south, 117.45, south + 0.15))
        for n in range(4):
            unit = Unit.objects.create(
                organisation=city,
                name=f"汉山 Team {n + 1}",
                kind=Unit.Kind.PATROL,
                home_area=home,
                last_position=Point(117.28 + 0.01 * n, south + 0.02, srid=SRID),
                last_position_at=timezone.now(),
            )
            unit.members.add(field_user)
        origin_org = Organisation.objects.create(
            code=demo.CITY.code,
            name=demo.CITY.name,
            level=Organisation.Level.CITY,
            jurisdiction=box(demo.CITY.bbox),
        )
        partner = Partner.objects.create(organisation=origin_org, region=box(demo.CITY.bbox))
    partner.base_url = partner_url
    partner.signing_secret = secret
    partner.save()
    _, key = PartnerAPIKey.objects.create_key(partner=partner, name="two-city test")
    print(json.dumps({"key": key}))


if __name__ == "__main__":
    main(sys.argv[1:])
