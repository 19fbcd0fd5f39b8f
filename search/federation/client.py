"""The HTTP side of sending one message to a partner's Beacon."""

import json
from dataclasses import dataclass

import requests
from django.conf import settings
from django.utils import timezone

from search.federation.signing import sign_headers

# Relative to the partner's base URL, which is the root of its API (…/api/v1/).
MESSAGES_PATH = "federation/messages/"


@dataclass(frozen=True)
class DeliveryResult:
    status: int | None  # None: no answer at all (connection refused, timeout)
    body: dict
    error: str = ""


def encode(body: dict) -> str:
    """Return the exact text that is signed and sent (compact, stable key order)."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def session() -> requests.Session:
    """Return an HTTP session for a run of sends: one connection kept open to the partner."""
    return requests.Session()


def post_message(
    *, partner, msg_id: str, body: dict, http: requests.Session | None = None
) -> DeliveryResult:
    """POST one signed message to the partner and return what it answered."""
    text = encode(body)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Api-Key {partner.outbound_api_key}",
        "Idempotency-Key": msg_id,
        **sign_headers(
            secrets_=[partner.signing_secret, partner.signing_secret_previous],
            msg_id=msg_id,
            body=text,
            when=timezone.now(),
        ),
    }
    url = partner.base_url.rstrip("/") + "/" + MESSAGES_PATH
    try:
        response = (http or requests).post(
            url,
            data=text.encode(),
            headers=headers,
            timeout=settings.FEDERATION["TIMEOUT_SECONDS"],
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return DeliveryResult(status=None, body={}, error=f"{type(exc).__name__}: {exc}")
    try:
        answer = response.json()
    except ValueError:
        answer = {"text": response.text[:500]}
    if not isinstance(answer, dict):
        answer = {"value": answer}
    error = "" if response.ok else f"HTTP {response.status_code}: {encode(answer)[:500]}"
    return DeliveryResult(status=response.status_code, body=answer, error=error)
