"""The partner quick start in README works: its example script against a live Beacon."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from search.models import InboxMessage, MutualAidRequest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db(transaction=True)
def test_the_readme_partner_example_sends_a_request_once(live_server, capsys):
    call_command("seed_demo", allow_production=True, verbosity=0)
    call_command("issue_partner_key", "HS")
    call_command("partner_secret", "HS")
    key, secret = capsys.readouterr().out.split()
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "docs" / "examples" / "partner_send.py"),
            "--url",
            f"{live_server.url}/api/v1/",
            "--key",
            key,
            "--secret",
            secret,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("201 ")
    assert "replay: 201" in result.stdout
    assert "requests between us: 1" in result.stdout
    assert MutualAidRequest.objects.count() == 1
    assert InboxMessage.objects.count() == 1
    request = MutualAidRequest.objects.get()
    assert request.partner.organisation.code == "HS"
    assert request.summary["subject_name"] == "Zhang Wei"


@pytest.mark.django_db
def test_keys_are_stored_hashed_and_revocable(capsys):
    from accounts.models import PartnerAPIKey

    call_command("seed_demo", allow_production=True, verbosity=0)
    call_command("issue_partner_key", "HS")
    key = capsys.readouterr().out.strip()
    stored = PartnerAPIKey.objects.get()
    assert key not in stored.hashed_key and stored.is_valid(key)
    call_command("issue_partner_key", "HS", revoke_others=True)
    stored.refresh_from_db()
    assert stored.revoked
    with pytest.raises(Exception, match="No partner"):
        call_command("issue_partner_key", "NOPE")


@pytest.mark.django_db
def test_a_secret_rotation_keeps_the_old_one_until_finished(capsys):
    from accounts.models import Partner

    call_command("seed_demo", allow_production=True, verbosity=0)
    call_command("partner_secret", "HS")
    first = capsys.readouterr().out.strip()
    call_command("partner_secret", "HS")
    assert capsys.readouterr().out.strip() == first  # shown again, not replaced
    call_command("partner_secret", "HS", rotate=True)
    second = capsys.readouterr().out.strip()
    partner = Partner.objects.get(organisation__code="HS")
    assert second != first and partner.signing_secret_previous == first
    call_command("partner_secret", "HS", finish_rotation=True)
    partner.refresh_from_db()
    assert partner.signing_secret == second and partner.signing_secret_previous == ""
