"""The course's own PostgreSQL gradebook server: ``course db start|stop|url``.

``start`` makes a PostgreSQL cluster from the system's server programs (Debian's ``postgresql-15``) in a
folder of the course and starts it; ``url`` prints the address nbgrader and the course tools use
(``export COURSE_DB_URL=$(course db url)``); ``stop`` stops it. The server folder holds:

    data/       the cluster, owned by the server's user (``postgres`` when run as root: PostgreSQL refuses
                root), mode 700
    pgpass      the password of the gradebook's role, in libpq's password-file format, mode 600, readable
                by the instructor only: the URL names this file, never the password
    server.json where the server listens and the names of its role and database (no secret)

and the server's log is ``data/server.log``.

The server listens on TCP only (no unix socket a grading kernel could reach), by default on 127.0.0.1,
and takes password (SCRAM) logins only. The gradebook belongs to a role without superuser rights; the
superuser's password is random and thrown away once the role and the database exist.
"""

import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from course.dburl import PASSFILE, pgpass_line, sqlite_path

SERVER_FOLDER = "gradebook-server"  # in the course folder (git-ignored)
ROLE, DATABASE = "grader", "gradebook"
SERVER_USER = "postgres"  # the account the server runs as when the instructor is root
LOOPBACK = "127.0.0.1"
SERVER_RECORD, PASSWORD_FILE, LOG_FILE, DATA = "server.json", "pgpass", "server.log", "data"


class ServerError(RuntimeError):
    """The gradebook server could not be made, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class Server:
    """A gradebook server made by :func:`start`: where it listens and what it serves."""

    folder: str  # the server folder (absolute)
    host: str  # the address it listens on
    port: int
    role: str = ROLE
    database: str = DATABASE

    @property
    def passfile(self) -> str:
        return os.path.join(self.folder, PASSWORD_FILE)

    @property
    def url(self) -> str:
        """The gradebook's URL for nbgrader and SQLAlchemy (psycopg 3); it names the password file, not the password."""
        return URL.create("postgresql+psycopg", username=self.role, host=self.host, port=self.port,
                          database=self.database, query={PASSFILE: self.passfile}).render_as_string()

    @property
    def data(self) -> str:
        return os.path.join(self.folder, DATA)

    @property
    def log(self) -> str:
        return os.path.join(self.data, LOG_FILE)


def server_folder(root: str) -> str:
    """The server folder of the course in ``root``."""
    return os.path.join(root, SERVER_FOLDER)


def bin_dir() -> str:
    """The folder of PostgreSQL's server programs (``initdb``, ``pg_ctl``): on PATH, else the newest of
    Debian's ``/usr/lib/postgresql/<version>/bin``."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return os.path.dirname(on_path)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[-3]))
    if not versions:
        raise ServerError("PostgreSQL's server programs (initdb, pg_ctl) are not installed: install the Debian "
                          "package postgresql-15 (scripts/install-system-packages does, as root).")
    return os.path.dirname(versions[-1])


def server_user() -> str | None:
    """The account to run the server as: ``postgres`` when this process is root, else None (this user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise ServerError(f"PostgreSQL does not run as root and there is no '{SERVER_USER}' account: install "
                          "postgresql-15 (it creates the account) or run `course db start` as another user.") from None
    return SERVER_USER


def run_server_program(program: str, args: list[str], what: str) -> subprocess.CompletedProcess:
    """Run one of PostgreSQL's programs as the server's user; a failure raises with its output."""
    result = subprocess.run([os.path.join(bin_dir(), program), *args], user=server_user(),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ServerError(f"{what} failed ({program} exited with {result.returncode}):\n"
                          f"{result.stderr or result.stdout}")
    return result


def free_port(host: str) -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def write_private(path: str, text: str, owner: str | None = None) -> None:
    """Write ``text`` to a new file that only its owner (this user, or ``owner``) can read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as f:
        f.write(text)
    if owner:
        os.chown(path, pwd.getpwnam(owner).pw_uid, pwd.getpwnam(owner).pw_gid)


def load(folder: str) -> Server:
    """The server made in ``folder``."""
    record = os.path.join(folder, SERVER_RECORD)
    if not os.path.exists(record):
        raise ServerError(f"No gradebook server in {folder}: make one with `course db start`.")
    with open(record) as f:
        return Server(**json.load(f))


def is_running(server: Server) -> bool:
    """Whether the server accepts TCP connections."""
    try:
        socket.create_connection((server.host, server.port), timeout=2).close()
        return True
    except OSError:
        return False


def create(folder: str, port: int | None = None, host: str = LOOPBACK) -> Server:
    """Make a new cluster in ``folder`` (which must not hold one) and start it with the gradebook's role and
    database; returns the running server. A failure leaves no half-made cluster behind."""
    folder = os.path.abspath(folder)
    if os.path.exists(os.path.join(folder, SERVER_RECORD)):
        raise ServerError(f"{folder} already holds a gradebook server: start it with `course db start`.")
    os.makedirs(folder, exist_ok=True)
    os.chmod(folder, 0o711)  # the server's user passes through; only the owner lists or reads
    server = Server(folder, host, port or free_port(host))
    try:
        superuser_password = init_cluster(server)
        start_server(server)
        password = secrets.token_urlsafe(32)
        with psycopg.connect(host=host, port=server.port, user=SERVER_USER, password=superuser_password,
                             dbname="postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(ROLE),
                                                                             sql.Literal(password)))
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE), sql.Identifier(ROLE)))
        write_private(server.passfile, pgpass_line(host, server.port, DATABASE, ROLE, password))
    except BaseException:
        if os.path.exists(os.path.join(server.data, "postmaster.pid")):
            stop_server(server)
        shutil.rmtree(server.data, ignore_errors=True)
        if os.path.exists(server.passfile):
            os.remove(server.passfile)
        raise
    with open(os.path.join(folder, SERVER_RECORD), "w") as f:
        json.dump(asdict(server), f, indent=1)
    return server


def init_cluster(server: Server) -> str:
    """``initdb`` the cluster of ``server`` as the server's user, listening as ``server`` says; returns the
    superuser's random password."""
    user = server_user()
    os.makedirs(server.data, mode=0o700)
    if user:
        os.chown(server.data, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    superuser_password = secrets.token_urlsafe(32)
    superuser_file = os.path.join(server.folder, ".initdb-password")
    write_private(superuser_file, superuser_password, owner=user)
    try:
        run_server_program("initdb", ["-D", server.data, "-U", SERVER_USER, "--pwfile", superuser_file, "-E", "UTF8",
                                      "--locale=C", "--auth-local=reject", "--auth-host=scram-sha-256",
                                      "--no-instructions"],
                           f"Making the cluster in {server.data} (the server's user must be able to reach that folder)")
    finally:
        os.remove(superuser_file)
    with open(os.path.join(server.data, "postgresql.conf"), "a") as conf:
        conf.write(f"\n# course db start\nlisten_addresses = '{server.host}'\nport = {server.port}\n"
                   "unix_socket_directories = ''  # TCP only: no socket file for a grading kernel to find\n")
    if server.host != LOOPBACK:  # workers on other machines of this network log in with the role's password
        with open(os.path.join(server.data, "pg_hba.conf"), "a") as hba:
            hba.write(f"host {DATABASE} {ROLE} samenet scram-sha-256\n")
    return superuser_password


def start_server(server: Server) -> None:
    """Start the cluster of ``server`` and wait until it takes connections."""
    run_server_program("pg_ctl", ["-D", server.data, "-l", server.log, "-w", "start"],
                       f"Starting the gradebook server (its log: {server.log})")


def start(folder: str, port: int | None = None, host: str = LOOPBACK) -> Server:
    """Start the gradebook server of ``folder``, making it first if there is none; returns it."""
    if not os.path.exists(os.path.join(folder, SERVER_RECORD)):
        return create(folder, port, host)
    server = load(folder)
    if not is_running(server):
        start_server(server)
    return server


def stop_server(server: Server) -> None:
    run_server_program("pg_ctl", ["-D", server.data, "-m", "fast", "-w", "stop"], "Stopping the gradebook server")


def stop(folder: str) -> bool:
    """Stop the gradebook server of ``folder``; returns whether it was running."""
    server = load(folder)
    if not os.path.exists(os.path.join(server.data, "postmaster.pid")):
        return False
    stop_server(server)
    return True


@contextmanager
def local_worker_credentials(db_url: str):
    """The environment that lets worker processes of this machine log in to the gradebook server of ``db_url``
    with the URL less its credentials: ``PGPASSFILE`` naming the URL's password file, or a private one written
    for the while when the password is inline (removed at the end). Never the password itself: a process can
    read another's environment (``/proc/<pid>/environ``), a grading kernel too."""
    url = make_url(db_url)
    if sqlite_path(db_url) or url.password is None:
        yield {"PGPASSFILE": url.query[PASSFILE]} if PASSFILE in url.query else {}
        return
    with tempfile.TemporaryDirectory(prefix="course-credentials-") as folder:
        passfile = os.path.join(folder, PASSWORD_FILE)
        write_private(passfile, pgpass_line(url.host or LOOPBACK, url.port or 5432, url.database, url.username,
                                            str(url.password)))
        yield {"PGPASSFILE": passfile}
