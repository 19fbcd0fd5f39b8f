"""Send a signed mutual-aid request to a Beacon, as a partner city's system would.

    python docs/examples/partner_send.py --url http://127.0.0.1:8000/api/v1/ \
        --key "$KEY" --secret "$SECRET"

KEY comes from `manage.py issue_partner_key HS`, SECRET from `manage.py partner_secret HS`
(run them on the Beacon you call). Needs `requests` and `standardwebhooks` (both in Beacon's
requirements.txt). Prints Beacon's answer, then reads the request back with the same key.
"""

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

import requests
from standardwebhooks.webhooks import Webhook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="The Beacon API root, ending in /api/v1/")
    parser.add_argument("--key", required=True, help="The API key Beacon issued to you")
    parser.add_argument("--secret", required=True, help="The shared whsec_… signing secret")
    args = parser.parse_args()
    api = args.url.rstrip("/") + "/"

    now = datetime.now(UTC)
    message_id = str(uuid.uuid4())
    message = {
        "id": message_id,
        "type": "request",
        "request_id": str(uuid.uuid4()),  # yours to choose; every later message names it
        "sequence": 1,  # 1, 2, 3 … per request, for the messages you send
        "sent_at": now.isoformat(),
        "origin": "HS",
        "data": {
            "reason": "Our search area for an elderly man with dementia crosses into your city.",
            "summary": {
                "reference": "HS-2026-000042",
                "category": "dementia",
                "priority": 1,
                "last_seen_at": (now - timedelta(hours=2)).isoformat(),
                "last_seen_point": {"type": "Point", "coordinates": [117.31, 34.52]},
                "subject_name": "Zhang Wei",
                "age": 81,
                "clothing": "grey jacket, black cap",
            },
            "area": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [117.26, 34.46],
                        [117.36, 34.46],
                        [117.36, 34.50],
                        [117.26, 34.50],
                        [117.26, 34.46],
                    ]
                ],
            },
            "contact": {"name": "Coordinator Li", "phone": "+8613800000000"},
        },
    }
    # Sign exactly the bytes you send: HMAC-SHA256 over "id.timestamp.body" (Standard Webhooks).
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    signature = Webhook(args.secret).sign(msg_id=message_id, timestamp=now, data=body)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Api-Key {args.key}",
        "Idempotency-Key": message_id,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    answer = requests.post(
        api + "federation/messages/", data=body.encode(), headers=headers, timeout=30
    )
    print(answer.status_code, answer.text)
    if answer.status_code not in (200, 201, 202):
        return 1
    # Sending the same message again is safe: the first answer comes back, nothing is doubled.
    replay = requests.post(
        api + "federation/messages/", data=body.encode(), headers=headers, timeout=30
    )
    print("replay:", replay.status_code, replay.text)
    mine = requests.get(
        api + "mutual-aid/",
        params={"direction": "inbound"},
        headers={"Authorization": f"Api-Key {args.key}"},
        timeout=30,
    )
    print("requests between us:", mine.json()["count"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
