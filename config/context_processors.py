"""Values every page template may need."""

from django.conf import settings

from search import permissions


def beacon(request):
    """Return map settings and which sections of the navigation this user may open."""
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    aid = signed_in and permissions.has_any_role(user, {"coordinator", "supervisor"})
    return {
        "MAP": settings.MAP,
        "nav": {
            "cases": signed_in and permissions.can_read_cases(user),
            "file": signed_in and permissions.can_file_cases(user),
            "crisis": signed_in and permissions.can_work_crisis_desk(user),
            "field": signed_in and permissions.has_any_role(user, {"field"}),
            "aid": aid,
            "orders": signed_in and permissions.can_work_orders(user),
            "figures": signed_in and permissions.can_see_figures(user),
            # A partner's request has no case of ours yet, so no case alert can carry it: the
            # count on every page is how a coordinator hears of it without watching the board.
            "aid_waiting": _aid_waiting(user) if aid else 0,
        },
    }


def _aid_waiting(user) -> int:
    from search.selectors import aid_requests_awaiting_answer

    return aid_requests_awaiting_answer(user).count()
