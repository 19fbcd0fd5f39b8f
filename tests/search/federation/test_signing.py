"""The signing wrapper: several secrets, a five-minute window, clear refusals."""

from datetime import UTC, datetime, timedelta

import pytest

from search.federation import signing

BODY = '{"type": "note"}'


def headers(secrets_, when=None, msg_id="msg_1"):
    return signing.sign_headers(
        secrets_=secrets_, msg_id=msg_id, body=BODY, when=when or datetime.now(UTC)
    )


def test_a_new_secret_has_the_standard_prefix_and_32_random_bytes():
    import base64

    one, two = signing.new_secret(), signing.new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 32


def test_one_signature_per_secret_and_either_secret_verifies():
    old, new = signing.new_secret(), signing.new_secret()
    signed = headers([old, "", new])
    assert signed["webhook-id"] == "msg_1"
    assert len(signed["webhook-signature"].split(" ")) == 2
    signing.verify(secrets_=[new], body=BODY.encode(), headers=signed)
    signing.verify(secrets_=[old], body=BODY.encode(), headers=signed)


def test_another_secret_another_body_or_another_id_is_refused():
    mine, theirs = signing.new_secret(), signing.new_secret()
    signed = headers([mine])
    with pytest.raises(signing.SignatureError, match="matching"):
        signing.verify(secrets_=[theirs], body=BODY.encode(), headers=signed)
    with pytest.raises(signing.SignatureError):
        signing.verify(secrets_=[mine], body=b'{"type": "other"}', headers=signed)
    with pytest.raises(signing.SignatureError):
        signing.verify(
            secrets_=[mine], body=BODY.encode(), headers={**signed, "webhook-id": "msg_2"}
        )


@pytest.mark.parametrize(("minutes", "ok"), [(4, True), (-4, True), (6, False), (-6, False)])
def test_the_timestamp_must_be_within_five_minutes(minutes, ok):
    secret = signing.new_secret()
    signed = headers([secret], when=datetime.now(UTC) - timedelta(minutes=minutes))
    if ok:
        signing.verify(secrets_=[secret], body=BODY.encode(), headers=signed)
    else:
        with pytest.raises(signing.SignatureError, match="(?i)timestamp"):
            signing.verify(secrets_=[secret], body=BODY.encode(), headers=signed)


def test_no_secret_and_a_broken_secret_are_refused_clearly():
    with pytest.raises(signing.SignatureError, match="no signing secret"):
        headers(["", None])
    with pytest.raises(signing.SignatureError, match="no signing secret"):
        signing.verify(secrets_=[""], body=b"", headers={})
    with pytest.raises(signing.SignatureError, match="base64"):
        headers(["whsec_not*base64!"])


@pytest.mark.parametrize(
    "signature",
    ["v1", "v1,", "v1,***", "nonsense", ""],
    ids=["bare", "empty", "bad", "odd", "none"],
)
def test_a_malformed_signature_header_is_refused(signature):
    secret = signing.new_secret()
    signed = {**headers([secret]), "webhook-signature": signature}
    with pytest.raises(signing.SignatureError):
        signing.verify(secrets_=[secret], body=BODY.encode(), headers=signed)


def test_the_headers_are_the_standard_three_in_lower_case():
    when = datetime(2026, 11, 24, 4, 0, 7, tzinfo=UTC)
    signed = headers([signing.new_secret()], when=when)
    assert sorted(signed) == ["webhook-id", "webhook-signature", "webhook-timestamp"]
    assert signed["webhook-timestamp"] == str(int(when.timestamp()))
    assert signed["webhook-signature"].startswith("v1,")


def test_a_body_that_is_not_json_is_verified_as_bytes():
    secret = signing.new_secret()
    signed = signing.sign_headers(
        secrets_=[secret], msg_id="m", body="not json at all", when=datetime.now(UTC)
    )
    signing.verify(secrets_=[secret], body=b"not json at all", headers=signed)


def test_refusals_say_what_is_wrong():
    secret = signing.new_secret()
    with pytest.raises(signing.SignatureError) as none_set:
        signing.verify(secrets_=[""], body=b"", headers={})
    assert str(none_set.value) == "no signing secret is set for this partner"
    signed = {**headers([secret]), "webhook-signature": "v1"}
    with pytest.raises(signing.SignatureError) as malformed:
        signing.verify(secrets_=[secret], body=BODY.encode(), headers=signed)
    assert str(malformed.value) == "malformed signature header"
    with pytest.raises(signing.SignatureError) as other:
        signing.verify(
            secrets_=[signing.new_secret()], body=BODY.encode(), headers=headers([secret])
        )
    assert str(other.value) == "No matching signature found"


def test_signing_with_no_secret_says_so():
    with pytest.raises(signing.SignatureError) as info:
        headers([""])
    assert str(info.value) == "no signing secret is set for this partner"
