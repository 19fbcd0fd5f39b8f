"""Every string the UI can show has a Chinese translation, not a guess."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PO = Path("config/locale/zh_Hans/LC_MESSAGES/django.po")
SOURCES = ["accounts", "config", "search", "templates", "static", "manage.py"]


def _msgattrib(po: Path, flag: str) -> list[str]:
    out = subprocess.run(
        ["msgattrib", flag, "--no-obsolete", "--no-wrap", str(po)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        line[7:-1] for line in out.splitlines() if line.startswith('msgid "') and line != 'msgid ""'
    ]


def test_catalogue_is_current_and_fully_translated(tmp_path):
    # makemessages on a copy of the sources merges what the code says today into the committed
    # catalogue: a string added without `make messages` shows up here as untranslated.
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(
                src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo")
            )
        else:
            shutil.copy2(src, tmp_path / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "-v", "0"],
        cwd=tmp_path,
        check=True,
    )
    po = tmp_path / PO
    assert _msgattrib(po, "--untranslated") == []
    assert _msgattrib(po, "--only-fuzzy") == []


def test_committed_catalogue_compiles_cleanly():
    subprocess.run(["msgfmt", "--check-format", "-o", "/dev/null", str(ROOT / PO)], check=True)
