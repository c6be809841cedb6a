"""Gradebook URLs: where the course's gradebook is configured, the SQLite file behind an ``sqlite:///`` URL,
and a server URL without its credentials.

The gradebook is configured in one place: ``COURSE_DB_URL`` in the environment of the instructor's process
(read by ``nbgrader_config.py``), else the SQLite file ``gradebook.db`` of the course. A server URL names its
password through libpq: a ``passfile`` (``course db start`` writes one, mode 600) or, if the instructor
chooses, inline; either way it is read only by the processes that talk to the server, never by a grading
process (see :data:`CREDENTIAL_ENV_PREFIXES`).
"""

import os

from sqlalchemy.engine import URL, make_url

SQLITE_PREFIX = "sqlite:///"
DB_URL_ENV = "COURSE_DB_URL"
SQLITE_FILE = "gradebook.db"
PASSFILE = "passfile"  # libpq's connection parameter naming a password file (~/.pgpass format)
# Variables through which a gradebook's address or password can reach a process: COURSE_DB_URL and
# libpq's own (PGPASSWORD, PGPASSFILE, PGHOST, ...). Grading processes get none of them.
CREDENTIAL_ENV_PREFIXES = (DB_URL_ENV, "PG")


def course_db_url(root: str) -> str:
    """The gradebook of the course in ``root``: ``$COURSE_DB_URL``, else ``sqlite:///<root>/gradebook.db``."""
    return os.environ.get(DB_URL_ENV) or sqlite_url(os.path.join(root, SQLITE_FILE))


def sqlite_path(db_url: str) -> str | None:
    """The file of an SQLite gradebook URL (query string dropped), None for a server URL."""
    return db_url[len(SQLITE_PREFIX):].split("?")[0] if db_url.startswith(SQLITE_PREFIX) else None


def sqlite_url(path: str) -> str:
    """The URL of the SQLite gradebook in the file ``path``."""
    return SQLITE_PREFIX + path


def without_credentials(db_url: str) -> str:
    """``db_url`` without its password and password file: what may travel to another machine, whose
    processes find the password the libpq way (``PGPASSFILE``, ``~/.pgpass`` or ``PGPASSWORD``)."""
    url = make_url(db_url).difference_update_query([PASSFILE])
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
    return bare.render_as_string()


def pgpass_line(host: str, port: int, database: str, user: str, password: str) -> str:
    """One line of a libpq password file (``~/.pgpass`` format: ``:`` and ``\\`` escaped)."""
    fields = [host, str(port), database, user, password]
    return ":".join(f.replace("\\", "\\\\").replace(":", "\\:") for f in fields) + "\n"


def without_credential_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` less every variable that could carry a gradebook's address or password."""
    return {name: value for name, value in env.items() if not name.startswith(CREDENTIAL_ENV_PREFIXES)}
