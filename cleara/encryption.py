"""Secrets at rest: model fields whose values are encrypted in the database (Fernet: AES-128-CBC
with HMAC-SHA256), with a key from the environment.

CLEARA_ENCRYPTION_KEYS: comma-separated Fernet keys (`python -c "from cryptography.fernet import
Fernet; print(Fernet.generate_key().decode())"`); the first encrypts, every one decrypts, so a
key can be rotated by putting the new one first (a value is re-encrypted with the first key
whenever it is saved). Unset, one key is
derived from DJANGO_SECRET_KEY (HKDF), so rotating that key then makes stored secrets unreadable:
set CLEARA_ENCRYPTION_KEYS in production.

Stored values read "fernet:<token>"; a value without the prefix (written before encryption)
is read as it is and encrypted on its next save. Empty stays empty, so `exclude(field="")` works.
"""
from __future__ import annotations

import base64
import functools
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


@functools.cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"cleara-encryption", info=b"fields").derive(secret_key.encode())
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"CLEARA_ENCRYPTION_KEYS: {exc} (each key: 32 url-safe base64-encoded bytes)") from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(getattr(settings, "CLEARA_ENCRYPTION_KEYS", ()) or ()), settings.SECRET_KEY)


def encrypt(value: str) -> str:
    if not value:
        return value
    return PREFIX + fernet().encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored or not stored.startswith(PREFIX):
        return stored
    try:
        return fernet().decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("an encrypted value does not open with CLEARA_ENCRYPTION_KEYS: was the key changed without keeping the old one?") from exc


class EncryptedTextField(models.TextField):
    """A string encrypted at rest; reads give the plain string back."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value is not None else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value


class EncryptedJSONField(models.TextField):
    """A JSON document encrypted at rest (it cannot be queried inside, only read whole)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {}
        return json.loads(decrypt(value))

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(decrypt(value)) if value else {}
        return value

    def get_prep_value(self, value):
        if value is None:
            return value
        return encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj))
