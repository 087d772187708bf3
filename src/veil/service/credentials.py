"""The service's secrets: from the settings, or generated once and kept in the data directory.

The service never runs open: a secret that is not set is generated at first start
and stored in ``DATA_DIR/credentials.json``, readable only by its owner, and the
same file is read on every later start.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import string
from pathlib import Path

from veil.errors import ConfigError
from veil.service.settings import ServiceSettings

FILE_NAME = "credentials.json"
SECRET_FIELDS = ("api_token", "access_key_id", "secret_access_key")


def _generate(field: str) -> str:
    if field == "access_key_id":
        return "VEIL" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    return secrets.token_urlsafe(30)


def read_stored(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {mode:o}): run `chmod 600 {path}`")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the stored secrets in {path}: {error}") from None
    # Every field is kept (the review's first user is stored here too); callers pick theirs.
    return {field: str(value) for field, value in stored.items() if value}


def write_stored(path: Path, values: dict[str, str]) -> None:
    """Write then rename, like veil.files.atomic_path, but created 0600 from the first
    byte: the secrets are never readable by others, not even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(values, out, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def resolve_secrets(settings: ServiceSettings) -> tuple[ServiceSettings, Path | None]:
    """Settings with every secret set, and the file that holds generated ones (None if none was needed)."""
    missing = [field for field in SECRET_FIELDS if not getattr(settings, field)]
    if not missing:
        return settings, None
    path = settings.data_dir / FILE_NAME
    stored = read_stored(path)
    generated = {field: _generate(field) for field in missing if field not in stored}
    if generated:
        write_stored(path, {**stored, **generated})
    values = {**stored, **generated}
    return settings.model_copy(update={field: values[field] for field in missing}), path
