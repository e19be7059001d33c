"""Secrets at rest: values encrypted with keys from the environment (Fernet, MultiFernet).

``PERSONAMCP_SECRET_KEYS`` holds one or more Fernet keys, comma-separated, newest first: the
first encrypts, every one decrypts, so a key is rotated by putting a new one in front, running
``manage.py rotate_secrets`` (re-encrypts every stored secret with the new key) and then
dropping the old one. Without the variable a key is generated once into ``var/secret_keys``
(mode 0600), like the Django secret key, so the embedded mode needs no setup.

``EncryptedTextField`` is a model field that stores ``enc1:<fernet token>`` and gives Python
code the plain text; values written before encryption existed (no prefix) are read as they are
and encrypted on their next save (and by the data migration that introduced the field).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "enc1:"
ENV = "PERSONAMCP_SECRET_KEYS"


def _key_file() -> Path:
    return Path(settings.VAR_DIR) / "secret_keys"


def _configured_keys() -> list[str]:
    raw = os.environ.get(ENV, "").strip()
    if raw:
        return [part.strip() for part in raw.split(",") if part.strip()]
    path = _key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(Fernet.generate_key().decode() + "\n")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


@functools.cache
def _fernet() -> MultiFernet:
    keys = _configured_keys()
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            f"{ENV} must be comma-separated Fernet keys (32 url-safe base64-encoded bytes each; "
            "make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from None


def reset_keys() -> None:
    """Forget the loaded keys (after the environment changed, e.g. in a rotation)."""
    _fernet.cache_clear()


def is_encrypted(value: str | None) -> bool:
    return bool(value) and value.startswith(PREFIX)


def encrypt(value: str) -> str:
    """The stored form of a secret (empty stays empty, an encrypted value stays as it is)."""
    if not value or is_encrypted(value):
        return value
    return PREFIX + _fernet().encrypt(value.encode()).decode()


def decrypt(value: str | None) -> str:
    """The plain text of a stored secret; a legacy plain value is returned unchanged."""
    if not is_encrypted(value):
        return value or ""
    try:
        return _fernet().decrypt(value[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            f"a stored secret cannot be decrypted with the keys in {ENV}: "
            "keep the old key in the list until `manage.py rotate_secrets` has run"
        ) from None


class EncryptedTextField(models.TextField):
    """A text column whose value is encrypted at rest; Python code sees the plain text.

    Not searchable or orderable by content (each encryption is randomised)."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value)

    def to_python(self, value):
        return decrypt(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if isinstance(value, str) else value


def rotate_model(model: type[models.Model], fields: list[str]) -> int:
    """Encrypt ``fields`` of every row of ``model`` afresh with the newest key (legacy plain
    values included): the rotation step and the data migration of a new encrypted field.
    Returns the number of rows written."""
    changed = 0
    rows = model._base_manager.values_list("pk", *fields)
    for pk, *values in rows.iterator():
        # Read through from_db_value (plain text), written through get_prep_value (encrypted).
        updates = {name: value for name, value in zip(fields, values, strict=True) if value}
        if updates:
            model._base_manager.filter(pk=pk).update(**updates)
            changed += 1
    return changed
