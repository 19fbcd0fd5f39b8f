"""The hash of a timeline event covers every part of it (no database needed)."""

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from search.models import CaseEvent
from search.models.timeline import GENESIS_HASH

AT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def event(**overrides) -> CaseEvent:
    values = {
        "case_id": 7,
        "seq": 3,
        "kind": "edited",
        "actor_id": 11,
        "source": "web",
        "ip": "10.0.0.1",
        "data": {"b": 1, "a": "名"},
        "created_at": AT,
        "prev_hash": "f" * 64,
    }
    values.update(overrides)
    return CaseEvent(**values)


def test_the_hash_is_sha256_of_the_canonical_content():
    content = {
        "case": 7,
        "seq": 3,
        "kind": "edited",
        "actor": 11,
        "source": "web",
        "ip": "10.0.0.1",
        "data": {"b": 1, "a": "名"},
        "at": "2026-11-24T12:00:00+00:00",
        "prev": "f" * 64,
    }
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert event().compute_hash() == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    "change",
    [
        {"case_id": 8},
        {"seq": 4},
        {"kind": "created"},
        {"actor_id": None},
        {"source": "api"},
        {"ip": "10.0.0.2"},
        {"data": {"b": 2, "a": "名"}},
        {"created_at": AT + timedelta(microseconds=1)},
        {"prev_hash": GENESIS_HASH},
    ],
)
def test_changing_any_part_changes_the_hash(change):
    assert event(**change).compute_hash() != event().compute_hash()


def test_the_same_moment_in_another_time_zone_hashes_the_same():
    shanghai = AT.astimezone(timezone(timedelta(hours=8)))
    assert event(created_at=shanghai).compute_hash() == event().compute_hash()


def test_key_order_of_the_data_does_not_matter():
    assert event(data={"a": "名", "b": 1}).compute_hash() == event().compute_hash()
