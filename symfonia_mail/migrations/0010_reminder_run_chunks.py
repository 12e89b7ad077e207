"""Reminder runs count each chunk once and note their last progress (stalled runs resume)."""

from django.db import migrations, models

NEW_FIELDS = {
    "chunk_counts": models.JSONField(blank=True, default=dict, verbose_name="counts per chunk"),
    "progress_at": models.DateTimeField(blank=True, null=True, verbose_name="last progress"),
}


class Migration(migrations.Migration):
    dependencies = [("symfonia_mail", "0005_squashed_0009_oauth_state")]

    operations = [migrations.AddField(model_name="reminderrun", name=name, field=field)
                  for name, field in NEW_FIELDS.items()]
