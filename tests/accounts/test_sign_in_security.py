"""Signing in: lockout after repeated failures, expiring and revocable tokens, a password policy."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from knox.models import AuthToken

from accounts.api.views import AddressRateThrottle
from accounts.models import User

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token/"
LOGIN_URL = "/accounts/login/"


def login(client, username, password, address="10.1.2.3"):
    return client.post(LOGIN_URL, {"username": username, "password": password}, REMOTE_ADDR=address)


def token(client, username, password, address="10.1.2.3"):
    return client.post(TOKEN_URL, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_thirty_wrong_passwords_lock_the_login_page_and_the_right_one_then_fails(client, clerk):
    answers = [login(client, "clerk", f"wrong-{n}").status_code for n in range(30)]

    assert answers[:4] == [200] * 4  # the form again, with its error
    assert set(answers[5:]) == {429}
    locked = login(client, "clerk", "beacon-clerk")
    assert locked.status_code == 429
    assert "locked for 15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert AccessFailureLog.objects.filter(username="clerk").count() >= 5
    assert AccessAttempt.objects.filter(username="clerk").exists()


def test_the_lockout_page_speaks_chinese(client, clerk):
    for n in range(5):
        login(client, "clerk", f"wrong-{n}")
    client.cookies["django_language"] = "zh-hans"
    page = client.post(
        LOGIN_URL,
        {"username": "clerk", "password": "beacon-clerk"},
        REMOTE_ADDR="10.1.2.3",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert page.status_code == 429
    assert "登录已锁定" in page.content.decode()


def test_thirty_wrong_passwords_lock_the_token_endpoint_too(client, clerk):
    answers = [token(client, "clerk", f"wrong-{n}").status_code for n in range(30)]

    assert answers[:4] == [400] * 4
    assert set(answers[5:]) == {429}
    locked = token(client, "clerk", "beacon-clerk")
    assert locked.status_code == 429
    assert "locked" in locked.json()["detail"]
    assert not AuthToken.objects.filter(user__username="clerk").exists()


def test_one_address_guessing_many_usernames_is_locked_for_everyone_there(client, clerk):
    for n in range(5):
        login(client, f"nobody-{n}", "guess", address="10.9.9.9")

    assert login(client, "clerk", "beacon-clerk", address="10.9.9.9").status_code == 429
    # The same user from another address is not held back by that address.
    assert login(client, "clerk", "beacon-clerk", address="10.7.7.7").status_code == 302


def test_an_administrator_lifts_the_lock(client, clerk):
    for n in range(5):
        login(client, "clerk", f"wrong-{n}")
    assert login(client, "clerk", "beacon-clerk").status_code == 429

    call_command("axes_reset", verbosity=0)

    assert login(client, "clerk", "beacon-clerk").status_code == 302


def test_a_token_works_until_it_expires(client, clerk):
    answer = token(client, "clerk", "beacon-clerk")
    assert answer.status_code == 200, answer.content
    key = answer.json()["token"]
    expiry = answer.json()["expiry"]
    assert expiry is not None
    auth = {"HTTP_AUTHORIZATION": f"Token {key}"}
    assert client.get("/api/v1/cases/", **auth).status_code == 200

    AuthToken.objects.filter(user=clerk).update(expiry=timezone.now() - timedelta(seconds=1))

    assert client.get("/api/v1/cases/", **auth).status_code == 401


def test_a_shift_is_the_default_life_of_a_token(client, clerk):
    token(client, "clerk", "beacon-clerk")
    life = AuthToken.objects.get(user=clerk).expiry - timezone.now()
    assert timedelta(hours=13, minutes=59) < life <= timedelta(hours=14)


def test_the_user_revokes_one_token_or_all(client, clerk):
    keys = [token(client, "clerk", "beacon-clerk").json()["token"] for _ in range(3)]
    first, second, third = ({"HTTP_AUTHORIZATION": f"Token {k}"} for k in keys)

    assert client.post("/api/v1/auth/token/revoke/", **first).status_code == 204
    assert client.get("/api/v1/cases/", **first).status_code == 401
    assert client.get("/api/v1/cases/", **second).status_code == 200

    assert client.post("/api/v1/auth/token/revoke-all/", **second).status_code == 204
    assert client.get("/api/v1/cases/", **third).status_code == 401
    assert not AuthToken.objects.filter(user=clerk).exists()


def test_a_new_password_revokes_every_token(client, clerk):
    key = token(client, "clerk", "beacon-clerk").json()["token"]
    other = User.objects.get(username="coordinator")
    other_key = token(client, "coordinator", "beacon-coordinator").json()["token"]

    clerk.set_password("a-new-long-passphrase")
    clerk.save()

    assert client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert AuthToken.objects.filter(user=other).count() == 1
    assert client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {other_key}").status_code == 200
    # Saving the user for another reason leaves tokens alone.
    other.first_name = "Renamed"
    other.save()
    assert AuthToken.objects.filter(user=other).count() == 1


def test_an_admin_sees_and_revokes_tokens(admin_client, client, clerk):
    key = token(client, "clerk", "beacon-clerk").json()["token"]
    listing = admin_client.get("/admin/knox/authtoken/")
    assert listing.status_code == 200
    digest = AuthToken.objects.get(user=clerk).digest

    admin_client.post(f"/admin/knox/authtoken/{digest}/delete/", {"post": "yes"})

    assert client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


def test_the_token_endpoint_is_throttled_per_address(client, clerk, monkeypatch):
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(AddressRateThrottle, "THROTTLE_RATES", {"auth": "3/min"})
    answers = [token(client, "nobody", "x", address="10.4.4.4").status_code for _ in range(4)]
    assert answers == [400, 400, 400, 429]
    assert token(client, "nobody", "x", address="10.5.5.5").status_code == 400


@pytest.mark.parametrize("weak", ["Beacon2026", "short", "12345678901234"])
def test_weak_passwords_are_refused(weak):
    with pytest.raises(ValidationError):
        validate_password(weak)


def test_a_long_passphrase_is_accepted():
    validate_password("four quiet river stones")
