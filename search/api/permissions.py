from rest_framework.permissions import BasePermission

from search import permissions


class CaseDeskPermission(BasePermission):
    """Reading needs a case-reading role; filing needs a filing role."""

    def has_permission(self, request, view):
        if view.action == "create":
            return permissions.can_file_cases(request.user)
        if view.action == "partial_update":
            return permissions.can_edit_case(request.user)
        if view.action == "close":
            return permissions.can_close_case(request.user)
        return permissions.can_read_cases(request.user)
