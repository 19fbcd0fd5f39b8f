"""Build and sign partner messages as a partner's Beacon would."""

import uuid
from datetime import timedelta

from django.utils import timezone

from search.federation.client import encode
from search.federation.signing import sign_headers

URL = "/api/v1/federation/messages/"

BORDER_AREA = {
    "type": "Polygon",
    "coordinates": [
        [[117.29, 34.44], [117.31, 34.44], [117.31, 34.46], [117.29, 34.46], [117.29, 34.44]]
    ],
}


def envelope(type_: str, data: dict, *, request_id=None, sequence=1) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "request_id": str(request_id or uuid.uuid4()),
        "sequence": sequence,
        "sent_at": timezone.now().isoformat(),
        "origin": "PB",
        "data": data,
    }


def request_data(**overrides) -> dict:
    data = {
        "reason": "The search area crosses into your city.",
        "summary": {
            "reference": "PB-2026-000001",
            "category": "dementia",
            "priority": 1,
            "last_seen_at": (timezone.now() - timedelta(hours=1)).isoformat(),
            "last_seen_point": {"type": "Point", "coordinates": [117.30, 34.45]},
            "subject_name": "王老先生",
            "age": 81,
        },
        "area": BORDER_AREA,
        "contact": {"name": "Coordinator Li", "phone": "+8613800000000"},
    }
    data.update(overrides)
    return data


def signed(
    client,
    body: dict | None,
    *,
    key: str,
    secrets: list[str],
    raw: bytes | None = None,
    msg_id: str | None = None,
    age: timedelta = timedelta(0),
    extra: dict | None = None,
    drop: tuple[str, ...] = (),
    sign_over: str | None = None,
):
    """POST a message signed with these secrets, as a partner's relay would."""
    text = raw.decode("utf-8", "replace") if raw is not None else encode(body)
    msg_id = msg_id or (body or {}).get("id") or str(uuid.uuid4())
    headers = sign_headers(
        secrets_=secrets, msg_id=msg_id, body=sign_over or text, when=timezone.now() - age
    )
    http = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    http["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    http["HTTP_IDEMPOTENCY_KEY"] = msg_id
    for name in drop:
        http.pop(f"HTTP_{name.upper().replace('-', '_')}", None)
    http.update(extra or {})
    return client.post(
        URL,
        data=raw if raw is not None else text.encode(),
        content_type="application/json",
        **http,
    )
