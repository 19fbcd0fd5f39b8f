from rest_framework.permissions import BasePermission

from search import permissions


class CaseDeskPermission(BasePermission):
    """Reading needs a case-reading role; filing needs a filing role."""

    def has_permission(self, request, view):
        if view.action == "create":
            return permissions.can_file_cases(request.user)
        return permissions.can_read_cases(request.user)
