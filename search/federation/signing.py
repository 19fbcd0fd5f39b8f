"""Standard Webhooks signatures: HMAC-SHA256 over ``id.timestamp.body``, several allowed."""

import base64
import binascii
import secrets
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker, not a secret


class SignatureError(Exception):
    """The message's signature headers are missing, stale or match no secret we hold."""


def new_secret() -> str:
    """Return a fresh signing secret in the whsec_ form both sides paste into their settings."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _webhooks(secrets_: Iterable[str]) -> list[Webhook]:
    hooks = []
    for secret in secrets_:
        if not secret:
            continue
        try:
            hooks.append(Webhook(secret))
        except (ValueError, binascii.Error) as exc:
            raise SignatureError(f"a configured signing secret is not valid base64: {exc}") from exc
    return hooks


def sign_headers(
    *, secrets_: Iterable[str], msg_id: str, body: str, when: datetime
) -> dict[str, str]:
    """Return the webhook-* headers: one v1 signature per secret, so a rotation overlaps."""
    hooks = _webhooks(secrets_)
    if not hooks:
        raise SignatureError("no signing secret is set for this partner")
    signatures = " ".join(hook.sign(msg_id=msg_id, timestamp=when, data=body) for hook in hooks)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signatures,
    }


def verify(*, secrets_: Iterable[str], body: bytes, headers: dict[str, str]) -> None:
    """Raise SignatureError unless a signature matches one of our secrets within 5 minutes.

    The library compares in constant time and enforces the 5-minute window either way.
    """
    hooks = _webhooks(secrets_)
    if not hooks:
        raise SignatureError("no signing secret is set for this partner")
    problems = []
    for hook in hooks:
        try:
            hook.verify(body, headers, json_parse=False)
            return
        except WebhookVerificationError as exc:
            problems.append(str(exc))
        except (ValueError, binascii.Error):
            # A malformed signature list ("v1" with no comma, bad base64) or a body that is
            # not UTF-8: the library raises these rather than its own error.
            problems.append("malformed signature header")
    raise SignatureError(problems[-1])
