"""The UI speaks Simplified Chinese and English; the switch in the page changes it."""

import pytest

pytestmark = pytest.mark.django_db


def test_language_switch_serves_chinese_then_english(client):
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/accounts/login/"})
    assert response.status_code == 302

    page = client.get("/accounts/login/").content.decode()
    assert 'lang="zh-hans"' in page
    assert "登录" in page
    assert "用户名" in page

    client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    page = client.get("/accounts/login/").content.decode()
    assert 'lang="en"' in page
    assert "Sign in" in page
    assert "登录" not in page


def test_browser_asking_for_chinese_gets_chinese(client):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()

    assert "登录" in page


def test_base_template_offers_both_languages_and_fits_a_phone(client):
    page = client.get("/accounts/login/").content.decode()

    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert 'value="zh-hans"' in page and 'value="en"' in page


def test_production_defaults_are_chinese_and_shanghai():
    from config import settings as production

    assert production.LANGUAGE_CODE == "zh-hans"
    assert production.TIME_ZONE == "Asia/Shanghai"
