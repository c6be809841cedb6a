"""Gradebook URLs: the SQLite file behind an ``sqlite:///`` URL, and how to name one."""

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(db_url: str) -> str | None:
    """The file of an SQLite gradebook URL (query string dropped), None for a server URL."""
    return db_url[len(SQLITE_PREFIX):].split("?")[0] if db_url.startswith(SQLITE_PREFIX) else None


def sqlite_url(path: str) -> str:
    """The URL of the SQLite gradebook in the file ``path``."""
    return SQLITE_PREFIX + path
