"""Named reads about people and organisations."""

from accounts.models import Organisation, User


def organisation_tree_ids(organisation: Organisation | None) -> list[int]:
    """Return the organisation's id and those of every organisation below it."""
    if organisation is None:
        return []
    ids, frontier = [organisation.pk], [organisation.pk]
    while frontier:
        frontier = list(
            Organisation.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)
        )
        ids.extend(frontier)
    return ids


def organisations_in_scope(user: User):
    """Return the organisations whose cases this user's role may see."""
    return Organisation.objects.filter(pk__in=organisation_tree_ids(user.organisation))
