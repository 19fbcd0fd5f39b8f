"""Who polls for tasks, known from the cache: lets an unchanged task list answer 304 unread.

A field phone polls GET /api/v1/my/tasks/ with its API token every few seconds. Proving the
token against PostgreSQL on each poll costs more than the answer when nothing changed, so after
one full sign-in check the poll path remembers, in the cache:

- the token's digest (never the token) -> its user and expiry, for AUTH_TTL_SECONDS at most and
  never past the token's expiry;
- the user -> the units they belong to, only for an active user with the field role.

Only a 304 is ever answered from these. A poll whose list changed is checked again in full
(knox against the database) before a single task is read, so the cache can at worst tell a caller
"your copy is still current". The entries are deleted at once when the token is revoked or
deleted (logout, revoke-all, a new password), and when the user is saved (deactivated, new
password), changes groups or units, or is deleted (accounts/signals.py). A write racing a poll's
re-check can leave an entry standing for AUTH_TTL_SECONDS at most: that is the bound.
"""

import binascii
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from knox.crypto import hash_token
from knox.settings import knox_settings
from rest_framework.authentication import get_authorization_header
from rest_framework.request import Request

from accounts.models import Role

log = logging.getLogger(__name__)

TOKEN_KEY = "poll:tok:{digest}"  # noqa: S105 - a cache key pattern, holds a digest
USER_KEY = "poll:user:{user}"


def auth_ttl() -> int:
    return settings.POLLING["AUTH_TTL_SECONDS"]


@dataclass(frozen=True)
class PollUser:
    """A field user as the cache knows them: enough to answer 304, and nothing else."""

    pk: int
    unit_ids: tuple[int, ...]
    is_authenticated = True
    is_anonymous = False
    is_active = True

    @property
    def id(self) -> int:
        return self.pk

    def has_role(self, role: str) -> bool:
        return role == Role.FIELD


def _digest(request: Request) -> str | None:
    parts = get_authorization_header(request).split()
    if len(parts) != 2 or parts[0].lower() != knox_settings.AUTH_HEADER_PREFIX.lower().encode():
        return None
    try:
        return hash_token(parts[1].decode())
    except (TypeError, ValueError, binascii.Error):
        return None


def known_poller(request: Request) -> PollUser | None:
    """Return the token's field user from the cache, or None (then check the token in full)."""
    digest = _digest(request)
    if digest is None:
        return None
    try:
        token = cache.get(TOKEN_KEY.format(digest=digest))
        if token is None or (token["expiry"] is not None and token["expiry"] <= time.time()):
            return None
        user = cache.get(USER_KEY.format(user=token["user"]))
    except Exception:  # noqa: BLE001 - no cache: the full check answers
        return None
    if user is None:
        return None
    return PollUser(pk=token["user"], unit_ids=tuple(user["units"]))


def remember(request: Request, *, unit_ids: list[int]) -> None:
    """Remember a token that just passed the full check, if it is a field user's knox token."""
    token, user = request.auth, request.user
    digest = getattr(token, "digest", None)
    if digest is None or not user.is_active or not user.has_role(Role.FIELD):
        return
    ttl = auth_ttl()
    expiry = token.expiry.timestamp() if token.expiry else None  # type: ignore[union-attr]  # a knox AuthToken here
    if expiry is not None:
        ttl = min(ttl, int(expiry - time.time()))
    if ttl <= 0:
        return
    try:
        cache.set_many(
            {
                TOKEN_KEY.format(digest=digest): {"user": user.pk, "expiry": expiry},
                USER_KEY.format(user=user.pk): {"units": sorted(unit_ids)},
            },
            timeout=ttl,
        )
    except Exception:  # noqa: BLE001 - polls then take the full check, as before
        log.warning("poll identity not cached (cache unavailable)")


def forget_users(user_ids: Iterable[int]) -> None:
    """Drop what the cache knows of these users: their next poll is checked in full."""
    keys = [USER_KEY.format(user=pk) for pk in user_ids]
    if keys:
        _delete(keys)


def forget_token(digest: str) -> None:
    _delete([TOKEN_KEY.format(digest=digest)])


def _delete(keys: list[str]) -> None:
    try:
        cache.delete_many(keys)
    except Exception:  # noqa: BLE001 - the entries then die with their TTL
        log.warning("poll identity not dropped (cache unavailable); expires within its TTL")
