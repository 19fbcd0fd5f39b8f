"""What every bench shares: names it owns, derived from the environment, and the load line.

A bench owns a database named after DATABASE_URL's (`<name>_bench_<what>`, or the URL in
`BENCH_<WHAT>_DATABASE_URL`) and one Redis database (`BENCH_<WHAT>_REDIS_DB`, defaults below,
clear of `make run`'s 0, the tests' 14 and 15 and bench/scale.py's 8). It drops and recreates
only those, so it runs twice in a row and beside the test suite.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgis://postgres@127.0.0.1:5432/beacon"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# One Redis database per bench unless the environment says otherwise.
REDIS_DBS = {"fanout": 12, "federation": 13, "lists": 11}


def database_url(what: str) -> str:
    """Return the URL of the database this bench owns."""
    override = os.environ.get(f"BENCH_{what.upper()}_DATABASE_URL")
    if override:
        return override
    base = urlsplit(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    name = unquote(base.path.lstrip("/")) or "beacon"
    return urlunsplit(base._replace(path=f"/{name}_bench_{what}"))


def redis_url(what: str) -> str:
    """Return the URL of the Redis database this bench owns."""
    number = os.environ.get(f"BENCH_{what.upper()}_REDIS_DB", str(REDIS_DBS[what]))
    base = urlsplit(os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    return urlunsplit(base._replace(path=f"/{int(number)}"))


def recreate_database(url: str) -> None:
    """Drop the bench's database if it is there and create it afresh, with PostGIS."""
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "dbsetup.py"), "recreate"], check=True, env=env
    )


def free_port() -> int:
    """Return a loopback port nobody listens on now (two benches may run at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_line() -> str:
    """Return the load average, printed first, so a figure from a busy machine shows as such."""
    one, five, fifteen = os.getloadavg()
    return f"load avg1={one:.2f} avg5={five:.2f} avg15={fifteen:.2f} cpus={os.cpu_count()}"
