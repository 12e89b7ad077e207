"""An encrypted field that refuses to pass a ciphertext off as a password."""

from encrypted_model_fields.fields import EncryptedCharField, encrypt_str

# Every Fernet token starts with version byte 0x80 and a timestamp: "gAAAAA" in base64.
_TOKEN_PREFIX = "gAAAAA"


class UnreadableSecret(str):
    """A stored secret that the current FIELD_ENCRYPTION_KEY cannot decrypt.

    It is a ``str`` (the ciphertext) so the admin and forms keep working, but
    every consumer of a secret checks for it and refuses to use it.
    """

    def __repr__(self):
        return "<UnreadableSecret>"


class SecretField(EncryptedCharField):
    """``EncryptedCharField`` that marks undecryptable values.

    django-encrypted-model-fields returns the stored ciphertext unchanged when
    decryption fails (wrong or retired key). A successful decryption never
    yields its own token, so "the value came back unchanged" means "unreadable".
    """

    def from_db_value(self, value, *args, **kwargs):
        plain = super().from_db_value(value, *args, **kwargs)
        if value and plain == value:
            return UnreadableSecret(value)
        return plain

    def to_python(self, value):
        plain = super().to_python(value)
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
        return encrypt_str(str(value)).decode("ascii")

    def get_db_prep_save(self, value, connection):
        if isinstance(value, UnreadableSecret):
            # Re-saving must not encrypt the ciphertext a second time.
            return str(value)
        return super().get_db_prep_save(value, connection)
