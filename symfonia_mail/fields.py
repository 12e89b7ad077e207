"""An encrypted field that refuses to pass a ciphertext off as a password."""

from cryptography.fernet import InvalidToken
from django.db import models

# Every Fernet token starts with version byte 0x80 and a timestamp: "gAAAAA" in base64.
_TOKEN_PREFIX = "gAAAAA"


class UnreadableSecret(str):
    """A stored secret that the current FIELD_ENCRYPTION_KEY cannot decrypt.

    It is a ``str`` (the ciphertext) so the admin and forms keep working, but
    every consumer of a secret checks for it and refuses to use it.
    """

    def __repr__(self):
        return "<UnreadableSecret>"


def _crypto():
    """Return django-encrypted-model-fields' module, imported on first use.

    It builds its Fernet keys from FIELD_ENCRYPTION_KEY at import and raises
    without one; imported with the models, a project lacking the key would die
    with that traceback instead of showing check symfonia_mail.E001.
    """
    from encrypted_model_fields import fields

    return fields


class SecretField(models.CharField):
    """django-encrypted-model-fields' ``EncryptedCharField`` that marks undecryptable values.

    Stored the same way (Fernet tokens in a text column, the package's keys).
    The package returns the stored ciphertext unchanged when decryption fails
    (wrong or retired key). A successful decryption never yields its own
    token, so "the value came back unchanged" means "unreadable".
    """

    def from_db_value(self, value, *args, **kwargs):
        plain = self._decrypt(value)
        if value and plain == value:
            return UnreadableSecret(value)
        return plain

    def _decrypt(self, value):
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if isinstance(value, str):
            try:
                value = _crypto().decrypt_str(value)
            except InvalidToken:
                pass
        return super().to_python(value)

    def get_internal_type(self):
        return "TextField"

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)  # a token is longer than its text
        return name, path, args, kwargs

    def to_python(self, value):
        plain = self._decrypt(value)
        if isinstance(plain, str) and plain == value and plain.startswith(_TOKEN_PREFIX):
            # A token from a fixture made with another key: keep it as it is (never
            # encrypt it a second time); it is readable again once that key is listed.
            return UnreadableSecret(plain)
        return plain

    def value_to_string(self, obj):
        """Serialize as ciphertext: ``dumpdata`` output ends up in repositories and tickets.

        ``loaddata`` with the same FIELD_ENCRYPTION_KEY decrypts it again (to_python).
        """
        value = self.value_from_object(obj)
        if not value or isinstance(value, UnreadableSecret):
            return str(value or "")
        return _crypto().encrypt_str(str(value)).decode("ascii")

    def get_db_prep_save(self, value, connection):
        if isinstance(value, UnreadableSecret):
            # Re-saving must not encrypt the ciphertext a second time.
            return str(value)
        value = super().get_db_prep_save(value, connection)
        return None if value is None else _crypto().encrypt_str(str(value)).decode("utf-8")
