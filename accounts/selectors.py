"""Named reads about people and organisations."""

from django.contrib.gis.geos import Point
from django.db import connection
from django.db.models import QuerySet

from accounts.models import Organisation, User


def organisation_tree_ids(organisation: Organisation | None) -> list[int]:
    """Return the organisation's id and those of every organisation below it.

    One recursive query, kept on the instance: a page asks for the viewer's tree in every
    section, and `request.user.organisation` lives as long as the request.
    """
    if organisation is None:
        return []
    cached = getattr(organisation, "_tree_ids", None)
    if cached is not None:
        return list(cached)
    table = Organisation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE tree(id) AS (
                SELECT %s::bigint
                UNION
                SELECT o.id FROM {table} o JOIN tree ON o.parent_id = tree.id
            )
            SELECT id FROM tree
            """,  # noqa: S608 - the table name is the model's, not input
            [organisation.pk],
        )
        ids = [row[0] for row in cursor.fetchall()]
    # The organisation itself first, as callers and tests expect.
    ids.sort(key=lambda pk: pk != organisation.pk)
    setattr(organisation, "_tree_ids", tuple(ids))  # noqa: B010 - not a model field
    return ids


def organisations_in_scope(user: User) -> QuerySet[Organisation]:
    """Return the organisations whose cases this user's role may see."""
    return Organisation.objects.filter(pk__in=organisation_tree_ids(user.organisation))


def root_organisation(organisation: Organisation) -> Organisation:
    """Return the city at the top of the organisation's tree."""
    while organisation.parent is not None:
        organisation = organisation.parent
    return organisation


def organisation_family_ids(organisation: Organisation) -> list[int]:
    """Return the ids of the organisation's whole city: its root organisation and all below."""
    return organisation_tree_ids(root_organisation(organisation))


def point_in_city(*, organisation: Organisation, point: Point) -> bool:
    """Return whether the point lies in the jurisdiction of the organisation's city."""
    return Organisation.objects.filter(
        pk__in=organisation_family_ids(organisation), jurisdiction__contains=point
    ).exists()


# The rule "this unit can take work at this point", for raw SQL that matches many points at once
# (dispatch); Unit.objects.available().covering(point) is the same rule for one point, and
# tests/accounts/test_unit_queries.py holds the two to the same answers. Parameter: %(available)s.
UNIT_CAN_TAKE_SQL = "{unit}.availability = %(available)s AND ST_Contains({unit}.home_area, {point})"
