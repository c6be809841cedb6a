"""Do gradebook URLs keep their secrets: configured in one place, sent without credentials, handed to local
workers as a password file only?"""

import os
import stat

from course.dburl import DB_URL_ENV, course_db_url, pgpass_line, without_credential_env, without_credentials
from course.tools.db import local_worker_credentials

INLINE = "postgresql+psycopg://grader:s3cr%3At@db.example:5433/gradebook?sslmode=require"
PASSFILE_URL = "postgresql+psycopg://grader@127.0.0.1:5433/gradebook?passfile=%2Fcourse%2Fgradebook-server%2Fpgpass"


def test_is_sqlite_the_default_and_course_db_url_the_one_place_for_a_server(monkeypatch):
    monkeypatch.delenv(DB_URL_ENV, raising=False)
    assert course_db_url("/course") == "sqlite:////course/gradebook.db"
    monkeypatch.setenv(DB_URL_ENV, PASSFILE_URL)
    assert course_db_url("/course") == PASSFILE_URL


def test_does_a_url_travel_without_its_password_or_password_file():
    assert without_credentials(INLINE) == "postgresql+psycopg://grader@db.example:5433/gradebook?sslmode=require"
    assert without_credentials(PASSFILE_URL) == "postgresql+psycopg://grader@127.0.0.1:5433/gradebook"


def test_does_a_grading_process_get_no_gradebook_variable():
    env = {"PATH": "/bin", DB_URL_ENV: INLINE, "PGPASSWORD": "s3cr:t", "PGPASSFILE": "/x", "PYTHONHASHSEED": "0"}
    assert without_credential_env(env) == {"PATH": "/bin", "PYTHONHASHSEED": "0"}


def test_do_local_workers_get_a_private_password_file_and_never_the_password():
    with local_worker_credentials(INLINE) as env:
        assert list(env) == ["PGPASSFILE"] and "s3cr" not in env["PGPASSFILE"]
        assert stat.S_IMODE(os.stat(env["PGPASSFILE"]).st_mode) == 0o600
        assert open(env["PGPASSFILE"]).read() == pgpass_line("db.example", 5433, "gradebook", "grader", "s3cr:t")
    assert not os.path.exists(env["PGPASSFILE"])
    with local_worker_credentials(PASSFILE_URL) as env:
        assert env == {"PGPASSFILE": "/course/gradebook-server/pgpass"}
    with local_worker_credentials("sqlite:////course/gradebook.db") as env:
        assert env == {}


def test_does_a_password_file_line_escape_colons_and_backslashes():
    assert pgpass_line("h", 1, "d", "u", "a:b\\c") == "h:1:d:u:a\\:b\\\\c\n"
