"""Authentication backends."""

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef

from accounts.models import User


class UserBackend(ModelBackend):
    """Django's ModelBackend, reading the user's role names in the same query as the user.

    Every page and action asks for a role (User.has_role) right after the session names the
    user: reading both at once makes that one query instead of two on every signed-in request.
    """

    def get_user(self, user_id):
        roles = Group.objects.filter(user=OuterRef("pk")).values("name")
        found = (
            User._default_manager.annotate(role_list=ArraySubquery(roles))
            .filter(pk=user_id)
            .first()
        )
        if found is None or not self.user_can_authenticate(found):
            return None
        found._role_names = set(found.role_list)  # read by User.has_role
        return found
