"""Settings read from the environment refuse a value they cannot understand, naming it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import env_bool, env_int

ROOT = Path(__file__).resolve().parent.parent
NAME = "BEACON_TEST_SETTING"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("on", True),
        (" true ", True),
        ("0", False),
        ("false", False),
        ("False", False),
        ("NO", False),
        ("off", False),
    ],
)
def test_env_bool_reads_the_words_it_knows(monkeypatch, raw, expected):
    monkeypatch.setenv(NAME, raw)

    assert env_bool(NAME, not expected) is expected


@pytest.mark.parametrize("default", [True, False])
def test_env_bool_unset_or_empty_gives_the_default(monkeypatch, default):
    monkeypatch.delenv(NAME, raising=False)
    assert env_bool(NAME, default) is default

    monkeypatch.setenv(NAME, "")
    assert env_bool(NAME, default) is default


@pytest.mark.parametrize("raw", ["ture", "flase", "2", "enabled", "y", "n", "-1"])
def test_env_bool_refuses_anything_else_naming_the_variable_and_value(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)

    with pytest.raises(ImproperlyConfigured) as refused:
        env_bool(NAME, True)

    assert NAME in str(refused.value)
    assert repr(raw) in str(refused.value)


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("180", 180), (" 42 ", 42), ("-3", -3)])
def test_env_int_reads_a_whole_number(monkeypatch, raw, expected):
    monkeypatch.setenv(NAME, raw)

    assert env_int(NAME, 7) == expected


def test_env_int_unset_or_empty_gives_the_default(monkeypatch):
    monkeypatch.delenv(NAME, raising=False)
    assert env_int(NAME, 7) == 7

    monkeypatch.setenv(NAME, "")
    assert env_int(NAME, 7) == 7


@pytest.mark.parametrize("raw", ["abc", "1.5", "1e3", "12 minutes", "0x10"])
def test_env_int_refuses_anything_else_naming_the_variable_and_value(monkeypatch, raw):
    monkeypatch.setenv(NAME, raw)

    with pytest.raises(ImproperlyConfigured) as refused:
        env_int(NAME, 7)

    assert NAME in str(refused.value)
    assert repr(raw) in str(refused.value)


def test_settings_module_reads_no_integer_without_env_int():
    source = (ROOT / "config" / "settings.py").read_text()

    assert "int(os.environ" not in source


@pytest.mark.parametrize(
    ("name", "raw"), [("DISPATCH_OFFER_TIMEOUT_SECONDS", "abc"), ("SECURE_SSL_REDIRECT", "ture")]
)
def test_django_refuses_to_start_on_a_bad_value_and_names_it(name, raw):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        name: raw,
    }

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr, result.stderr
    assert name in result.stderr and repr(raw) in result.stderr, result.stderr
