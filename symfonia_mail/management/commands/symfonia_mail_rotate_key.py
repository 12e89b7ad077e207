"""Re-encrypt stored mail passwords with the newest FIELD_ENCRYPTION_KEY."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from symfonia_mail.fields import SecretField, UnreadableSecret
from symfonia_mail.models import GlobalMailConfig, UserMailConfig


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored mail password with the first (newest) key of "
        "FIELD_ENCRYPTION_KEY. Put the new key first, keep the old ones after it, run "
        "this, then remove the old keys."
    )

    def handle(self, *args, **options):
        unreadable, rewritten = [], 0
        with transaction.atomic():
            for model in (GlobalMailConfig, UserMailConfig):
                secret_fields = [f.name for f in model._meta.fields if isinstance(f, SecretField)]
                for row in model.objects.select_for_update():
                    values = {name: getattr(row, name) for name in secret_fields}
                    bad = [name for name, value in values.items()
                           if isinstance(value, UnreadableSecret)]
                    if bad:
                        unreadable.append(f"{row} ({', '.join(bad)})")
                        continue
                    # update() encrypts again with the first key; no signals, no updated_at.
                    model.objects.filter(pk=row.pk).update(**values)
                    rewritten += 1
            if unreadable:
                raise CommandError(
                    "Nothing was changed: these passwords cannot be decrypted with any key of "
                    "FIELD_ENCRYPTION_KEY: " + "; ".join(unreadable)
                    + ". Add the key they were saved with, or enter them again in the admin."
                )
        self.stdout.write(self.style.SUCCESS(
            f"Re-encrypted the passwords of {rewritten} configuration(s) with the newest key."
        ))
