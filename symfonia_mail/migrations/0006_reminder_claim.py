# Claims for payment reminders: status, resend number, one row per reminder and day.

from django.conf import settings
from django.db import migrations, models


def number_earlier_resends(apps, schema_editor):
    """Give forced resends recorded before this migration their own resend numbers."""
    record = apps.get_model("symfonia_mail", "ReminderRecord")
    seen = {}
    for row in record.objects.order_by("sent_at", "id").only(
        "id", "contractor_key", "sent_on", "documents_digest"
    ):
        key = (row.contractor_key, row.sent_on, row.documents_digest)
        number = seen.get(key, -1) + 1
        seen[key] = number
        if number:
            record.objects.filter(pk=row.pk).update(resend=number)


class Migration(migrations.Migration):

    dependencies = [
        ('symfonia_mail', '0005_release_contract'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='reminderrecord',
            name='symfonia_mail_reminder_day',
        ),
        migrations.AddField(
            model_name='reminderrecord',
            name='refused',
            field=models.TextField(blank=True, help_text='Addresses the server refused, with its replies.', verbose_name='refused recipients'),
        ),
        migrations.AddField(
            model_name='reminderrecord',
            name='resend',
            field=models.PositiveSmallIntegerField(default=0, help_text="0 for the day's reminder; 1, 2, … for reminders sent again by force.", verbose_name='resend'),
        ),
        migrations.AddField(
            model_name='reminderrecord',
            name='status',
            field=models.CharField(choices=[('claimed', 'being sent'), ('sent', 'sent'), ('partial', 'partial')], default='sent', max_length=10, verbose_name='status'),
        ),
        migrations.RunPython(number_earlier_resends, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name='reminderrecord',
            constraint=models.UniqueConstraint(fields=('contractor_key', 'sent_on', 'documents_digest', 'resend'), name='symfonia_mail_reminder_once'),
        ),
    ]
