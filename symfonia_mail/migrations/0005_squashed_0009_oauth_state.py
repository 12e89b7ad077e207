# 0.1.0's migrations 0005-0009 of the development snapshots, squashed for the release.
# The fields added to both configuration models are written once (added_settings_fields).

import django.db.models.deletion
import django.utils.timezone
import symfonia_mail.fields
import symfonia_mail.validators
from django.conf import settings
from django.db import migrations, models

CONFIG_MODELS = ("globalmailconfig", "usermailconfig")


def added_settings_fields():
    """Return fresh fields that 0.1.0 adds to both configuration models (MailSettings)."""
    return [
        ('auth_method', models.CharField(choices=[('password', 'Password'), ('microsoft365', 'Microsoft 365 (OAuth2)'), ('google', 'Google (OAuth2)')], default='password', max_length=20, verbose_name='sign-in method')),
        ('ca_certificates', models.TextField(blank=True, help_text="For a server whose certificate is signed by your company's own certificate authority: paste that authority's certificate(s) in PEM format. They are trusted instead of the system store for this configuration only.", verbose_name='trusted CA certificates (PEM)')),
        ('oauth_client_id', models.CharField(blank=True, max_length=255, validators=[symfonia_mail.validators.validate_no_control_chars], verbose_name='OAuth2 client ID')),
        ('oauth_client_secret', symfonia_mail.fields.SecretField(blank=True, verbose_name='OAuth2 client secret')),
        ('oauth_client_secret_set_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='client secret entered by')),
        ('oauth_refresh_token', symfonia_mail.fields.SecretField(blank=True, editable=False, verbose_name='OAuth2 refresh token')),
        ('oauth_tenant', models.CharField(blank=True, help_text='Directory (tenant) ID or domain, e.g. firma.onmicrosoft.com.', max_length=255, validators=[symfonia_mail.validators.validate_no_control_chars], verbose_name='Microsoft directory (tenant)')),
        ('rate_limit_per_minute', models.PositiveIntegerField(blank=True, help_text='At most this many messages a minute through this configuration, for all workers together (Microsoft 365 allows 30). Empty: no limit.', null=True, verbose_name='messages per minute')),
        ('oauth_account', models.CharField(blank=True, editable=False, help_text="The account that signed in with “Connect” (from the provider's answer).", max_length=255, verbose_name='connected account')),
        ('oauth_problem', models.TextField(blank=True, editable=False, help_text='Why the last token request failed; empty after the next success.', verbose_name='OAuth2 sign-in problem')),
    ]


def number_earlier_resends(apps, schema_editor):
    """Give forced resends recorded before this migration their own resend numbers."""
    rows = apps.get_model("symfonia_mail", "ReminderRecord").objects.using(
        schema_editor.connection.alias
    )
    seen = {}
    for row in rows.order_by("sent_at", "id").only(
        "id", "contractor_key", "sent_on", "documents_digest"
    ):
        key = (row.contractor_key, row.sent_on, row.documents_digest)
        number = seen.get(key, -1) + 1
        seen[key] = number
        if number:
            rows.filter(pk=row.pk).update(resend=number)


class Migration(migrations.Migration):

    # A database migrated by a development snapshot that applied all of them is marked
    # as having applied this one.
    replaces = [
        ("symfonia_mail", "0005_release_contract"),
        ("symfonia_mail", "0006_reminder_claim"),
        ("symfonia_mail", "0007_background_outbox"),
        ("symfonia_mail", "0008_maillog_admin_indexes"),
        ("symfonia_mail", "0009_oauth_state"),
    ]

    dependencies = [
        ('symfonia_mail', '0001_squashed_0004_template_body_size'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        *(
            migrations.AddField(model_name=model, name=name, field=field)
            for model in CONFIG_MODELS
            for name, field in added_settings_fields()
        ),
        migrations.AddField(
            model_name='maillog',
            name='attempts',
            field=models.PositiveIntegerField(default=1, verbose_name='attempts'),
        ),
        migrations.AddField(
            model_name='maillog',
            name='kind',
            field=models.CharField(choices=[('message', 'message'), ('test', 'Test SMTP')], db_index=True, default='message', max_length=10, verbose_name='kind'),
        ),
        migrations.AddField(
            model_name='maillog',
            name='next_attempt_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='next attempt'),
        ),
        migrations.AlterField(
            model_name='maillog',
            name='status',
            field=models.CharField(choices=[('sent', 'sent'), ('partial', 'sent, some recipients refused'), ('failed', 'failed'), ('queued', 'queued'), ('sending', 'sending'), ('retry', 'waiting to retry'), ('unknown', 'unknown (the worker stopped while sending)'), ('cancelled', 'cancelled')], db_index=True, max_length=10, verbose_name='status'),
        ),
        migrations.AlterField(
            model_name='maillog',
            name='created_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False, verbose_name='time'),
        ),
        migrations.AddIndex(
            model_name='maillog',
            index=models.Index(fields=['status', 'created_at'], name='maillog_status_time'),
        ),
        migrations.AddIndex(
            model_name='maillog',
            index=models.Index(fields=['sent_by', 'created_at'], name='maillog_sender_time'),
        ),
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
        migrations.CreateModel(
            name='OutboxMessage',
            fields=[
                ('log', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='outbox', serialize=False, to='symfonia_mail.maillog', verbose_name='mail log entry')),
                ('config_key', models.CharField(help_text='global, or user:<id> for an individual configuration.', max_length=40, verbose_name='configuration')),
                ('sender', models.CharField(max_length=998, verbose_name='envelope sender')),
                ('recipients', models.JSONField(default=list, verbose_name='envelope recipients')),
                ('dsn_notify', models.CharField(blank=True, max_length=64, verbose_name='delivery notifications')),
                ('data', models.BinaryField(null=True, verbose_name='message')),
                ('queued_at', models.DateTimeField(db_index=True, verbose_name='queued at')),
                ('claimed_at', models.DateTimeField(blank=True, null=True, verbose_name='sending since')),
                ('claimed_by', models.CharField(blank=True, max_length=255, verbose_name='worker')),
            ],
            options={
                'verbose_name': 'outbox message',
                'verbose_name_plural': 'outbox',
            },
        ),
        migrations.CreateModel(
            name='SendRateWindow',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('config_key', models.CharField(max_length=40)),
                ('window_start', models.DateTimeField()),
                ('count', models.PositiveIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'send rate window',
                'constraints': [models.UniqueConstraint(fields=('config_key', 'window_start'), name='symfonia_mail_rate_window')],
            },
        ),
        migrations.CreateModel(
            name='ReminderRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True, verbose_name='started')),
                ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished')),
                ('status', models.CharField(choices=[('queued', 'queued'), ('running', 'running'), ('done', 'done'), ('failed', 'failed')], default='queued', max_length=10, verbose_name='status')),
                ('sent_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='sent by')),
                ('source', models.CharField(help_text='Dotted path of the function that turns contractor keys into reminders.', max_length=255, verbose_name='source')),
                ('keys', models.JSONField(default=list, verbose_name='contractors')),
                ('options', models.JSONField(default=dict, verbose_name='options')),
                ('chunk_size', models.PositiveIntegerField(default=50, verbose_name='chunk size')),
                ('total', models.PositiveIntegerField(default=0, verbose_name='contractors')),
                ('sent', models.PositiveIntegerField(default=0, verbose_name='sent')),
                ('failed', models.PositiveIntegerField(default=0, verbose_name='failed')),
                ('skipped', models.PositiveIntegerField(default=0, verbose_name='skipped')),
                ('chunks_done', models.PositiveIntegerField(default=0, verbose_name='chunks done')),
                ('error', models.TextField(blank=True, verbose_name='error')),
            ],
            options={
                'verbose_name': 'payment reminder run',
                'verbose_name_plural': 'payment reminder runs',
                'ordering': ['-created_at', '-id'],
            },
        ),
    ]
