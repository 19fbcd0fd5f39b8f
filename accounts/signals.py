"""Keep the poll path's cached identities (accounts/poll_auth.py) no older than the database.

Every change that could end a field user's right to their task list drops what the cache knows,
at the write: a token deleted (revoked, logged out, expired and swept, or a new password), the
user saved (deactivated, new password) or deleted, their groups or units changed.
"""

from typing import Any

from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver
from knox.models import AuthToken

from accounts import poll_auth
from accounts.models import Unit, User


@receiver(post_delete, sender=AuthToken, dispatch_uid="poll_token_deleted")
def token_deleted(sender, instance, **kwargs):
    poll_auth.forget_token(instance.digest)


@receiver(post_save, sender=User, dispatch_uid="poll_user_saved")
@receiver(post_delete, sender=User, dispatch_uid="poll_user_deleted")
def user_changed(sender, instance, **kwargs):
    poll_auth.forget_users([instance.pk])


def _users_of(
    instance: Any, action: str, pk_set: Any, *, side_holds_users: bool, members: Any
) -> list[int]:
    """Return the users whose units or groups change; side_holds_users: instance is the group or
    unit (pk_set and its members are users), else the instance is the user."""
    if not side_holds_users:
        return [instance.pk] if action in ("post_add", "post_remove", "pre_clear") else []
    if action == "pre_clear":
        return list(members(instance))
    if action in ("post_add", "post_remove"):
        return list(pk_set or ())
    return []


@receiver(m2m_changed, sender=Unit.members.through, dispatch_uid="poll_unit_members")
def unit_members_changed(sender, instance, action, reverse, pk_set, **kwargs):
    # Unit.members: forward, the instance is a unit; reverse (user.units), it is the user.
    users = _users_of(
        instance,
        action,
        pk_set,
        side_holds_users=not reverse,
        members=lambda unit: unit.members.values_list("pk", flat=True),
    )
    poll_auth.forget_users(users)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="poll_user_groups")
def user_groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    # User.groups: forward, the instance is the user; reverse (group.user_set), it is the group.
    users = _users_of(
        instance,
        action,
        pk_set,
        side_holds_users=reverse,
        members=lambda group: group.user_set.values_list("pk", flat=True),
    )
    poll_auth.forget_users(users)


@receiver(pre_delete, sender=Unit, dispatch_uid="poll_unit_deleted")
def unit_deleted(sender, instance, **kwargs):
    poll_auth.forget_users(instance.members.values_list("pk", flat=True))


@receiver(pre_delete, sender=Group, dispatch_uid="poll_group_deleted")
def group_deleted(sender, instance, **kwargs):
    poll_auth.forget_users(instance.user_set.values_list("pk", flat=True))


@receiver(post_save, sender=Unit, dispatch_uid="poll_unit_saved")
def unit_saved(sender, instance, created, **kwargs):
    # The list shows the unit's name: a rename is a change to every row of it.
    if not created:
        from search.services.task_versions import units_changed

        units_changed(unit_ids=[instance.pk])
