"""Database chores for .ci/stack: report the server version, create the database and PostGIS.

Run with the project's virtualenv (it needs psycopg); takes DATABASE_URL from the environment.
"""

import os
import sys
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql


def connect(dbname: str | None = None) -> psycopg.Connection:
    url = urlsplit(os.environ["DATABASE_URL"])
    return psycopg.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=unquote(url.username or "postgres"),
        password=unquote(url.password) if url.password else None,
        dbname=dbname or unquote(url.path.lstrip("/")) or "beacon",
        autocommit=True,
        connect_timeout=5,
    )


def target_name() -> str:
    return unquote(urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")) or "beacon"


def main(command: str) -> None:
    if command == "version":
        with connect("postgres") as conn:
            print(conn.info.server_version // 10000)
    elif command in ("create", "recreate"):
        name = target_name()
        if command == "recreate":
            # Only ever a bench's own database (bench/common.py names it).
            with connect("postgres") as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        with connect("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"created database {name}", file=sys.stderr)
        with connect(name) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1])
