"""An encrypted field that refuses to pass a ciphertext off as a password."""

from encrypted_model_fields.fields import EncryptedCharField


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

    def get_db_prep_save(self, value, connection):
        if isinstance(value, UnreadableSecret):
            # Re-saving must not encrypt the ciphertext a second time.
            return str(value)
        return super().get_db_prep_save(value, connection)
