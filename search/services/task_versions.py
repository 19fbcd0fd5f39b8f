"""The version of each unit's task list, kept in the cache so a poll can answer 304 from it.

Every write to a unit's tasks calls `units_changed` inside its transaction; the new versions are
stored once the transaction commits (one cache write per transaction however many calls), so a
poll never sees a version that names rows it cannot yet read. A poll reads the versions *before*
it reads the list: a change committed in between then costs one extra 200, never a stale 304.

The versions expire VERSION_TTL_SECONDS after they were last set and are never extended by a
read: a write path that forgot to call `units_changed` (or a bump lost while the cache was down)
serves a stale 304 for at most that long, after which the next poll stores a fresh version and
gets the full list. A leaf: it imports nothing of ours.
"""

import hashlib
import logging
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

log = logging.getLogger(__name__)

KEY = "tasks:v:{unit}"


def version_ttl() -> int:
    return settings.POLLING["VERSION_TTL_SECONDS"]


def _new_version() -> str:
    # Random, not a counter: a key that expired and was made again never repeats an old value.
    return secrets.token_hex(6)


def _bump(unit_ids: Iterable[int]) -> None:
    keys = {KEY.format(unit=unit): _new_version() for unit in set(unit_ids)}
    if not keys:
        return
    try:
        cache.set_many(keys, timeout=version_ttl())
    except Exception:  # noqa: BLE001 - a cache that is down must not fail a committed write
        # The old versions expire within VERSION_TTL_SECONDS; until then a poll may get a 304.
        log.warning("task versions not bumped (cache unavailable) for %d unit(s)", len(keys))


def _flush() -> None:
    pending = getattr(connection, "_beacon_units_changed", None)
    if pending:
        connection._beacon_units_changed = set()  # type: ignore[attr-defined]  # ours, per connection
        _bump(pending)


def units_changed(*, unit_ids: Iterable[int]) -> None:
    """Bump these units' task-list versions when the current transaction commits (now outside one).

    Calls within one transaction share one bump. Units added by work a savepoint rolled back are
    bumped with the next commit: a needless 200 at worst, never a stale 304.
    """
    unit_ids = {int(u) for u in unit_ids if u is not None}
    if not unit_ids:
        return
    if not connection.in_atomic_block:
        _bump(unit_ids)
        return
    pending = getattr(connection, "_beacon_units_changed", None)
    if pending is None:
        pending = set()
        connection._beacon_units_changed = pending  # type: ignore[attr-defined]  # ours, per connection
    pending |= unit_ids
    # One callback per call, but only the first to run finds work: a callback registered inside
    # a savepoint that rolled back is dropped, and a later one must still flush.
    transaction.on_commit(_flush)


def versions(*, unit_ids: Iterable[int], create: bool) -> dict[int, str] | None:
    """Return each unit's version, or None: one missing (without create), or the cache down.

    With create, a missing version is stored afresh (`add`, so a concurrent bump wins).
    """
    units = sorted(set(unit_ids))
    keys = {KEY.format(unit=unit): unit for unit in units}
    try:
        found = cache.get_many(keys)
        missing = [key for key in keys if key not in found]
        if missing and not create:
            return None
        for key in missing:
            cache.add(key, _new_version(), timeout=version_ttl())
        if missing:
            found |= cache.get_many(missing)
    except Exception:  # noqa: BLE001 - no cache, no 304: the caller answers with the full list
        log.warning("task versions unreadable (cache unavailable)")
        return None
    if len(found) != len(keys):
        return None
    return {keys[key]: value for key, value in found.items()}


def list_etag(*, unit_ids: Iterable[int], variant: str, create: bool) -> str | None:
    """Return the weak ETag of a unit list (its units, their versions and the query), or None.

    Weak (W/): the same versions promise the same tasks, not byte-identical JSON.
    """
    units = sorted(set(unit_ids))
    found = versions(unit_ids=units, create=create)
    if found is None:
        return None
    basis = ";".join(f"{unit}={found[unit]}" for unit in units) + "|" + variant
    return 'W/"t' + hashlib.sha256(basis.encode()).hexdigest()[:24] + '"'


def etag_matches(header: str | None, etag: str) -> bool:
    """Return whether If-None-Match names this ETag (weak comparison, as RFC 9110 asks for GET)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))
