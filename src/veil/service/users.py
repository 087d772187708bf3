"""Review users: passwords hashed with Argon2id (argon2-cffi), and the first user made at the first start.

The first start of a service with no user creates ``admin`` with a generated
password and stores both in ``DATA_DIR/credentials.json`` (readable only by its
owner), beside the other generated secrets; ``veil users add NAME`` adds more.
When several replicas start at once on one database, one of them creates the
user, and only that one writes its password.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from veil.errors import ConfigError
from veil.jobs.review import ReviewStore
from veil.service.credentials import FILE_NAME, read_stored, write_stored

log = logging.getLogger(__name__)

FIRST_USER = "admin"
_hasher = PasswordHasher()
# Verifying against this keeps a sign-in for an unknown name as slow as one for a known name.
_DUMMY_HASH = _hasher.hash("veil: no such user")


def check_name(name: str) -> str:
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"user name {name!r}: use 1-64 letters, digits, '.', '-' or '_'")
    return name


def check_password(password: str) -> str:
    if len(password) < 10:
        raise ConfigError("a password needs at least 10 characters")
    return password


def new_password() -> str:
    return secrets.token_urlsafe(15)


def set_user(store: ReviewStore, name: str, password: str) -> bool:
    """Add ``name`` (or change its password); True if the user is new."""
    return store.set_user(check_name(name), _hasher.hash(check_password(password)))


def verify(store: ReviewStore, name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s; as slow for unknown names as for known ones."""
    stored = store.password_hash(name)
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def ensure_first_user(store: ReviewStore, data_dir: Path) -> bool:
    """Without any user, create one (``admin``) and keep its generated password in the credentials file.

    True if this call created it: a replica that lost the race to another writes nothing.
    """
    if store.user_count():
        return False
    path = data_dir / FILE_NAME
    stored = read_stored(path)
    name, password = stored.get("review_user", FIRST_USER), stored.get("review_password") or new_password()
    if not store.add_user(check_name(name), _hasher.hash(check_password(password))):
        return False
    write_stored(path, {**stored, "review_user": name, "review_password": password})
    log.info("review user %r created; its password is in %s (readable only by you)", name, path)
    return True
