"""A configuration's limit of SMTP sessions at once, and the leases that enforce it."""

import django.core.validators
from django.db import migrations, models

MAX_CONNECTIONS = models.PositiveSmallIntegerField(
    blank=True, null=True, validators=[django.core.validators.MinValueValidator(1)],
    verbose_name="connections at once",
    help_text=(
        "At most this many SMTP sessions of this configuration open at once, for all "
        "processes and workers together. Empty: automatic — 3 for Microsoft 365 "
        "(smtp.office365.com allows 3 concurrent connections per mailbox and refuses "
        "a 4th with “4.3.2 sender thread limit exceeded”), no limit for other servers."
    ),
)


class Migration(migrations.Migration):
    dependencies = [("symfonia_mail", "0014_mailbox_api_transports")]

    operations = [
        *(migrations.AddField(model_name=model, name="max_connections", field=MAX_CONNECTIONS)
          for model in ("globalmailconfig", "usermailconfig")),
        migrations.CreateModel(
            name="SmtpConnectionLease",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("config_key", models.CharField(max_length=40)),
                ("slot", models.PositiveSmallIntegerField()),
                ("holder", models.CharField(max_length=255)),
                ("expires_at", models.DateTimeField()),
            ],
            options={
                "verbose_name": "SMTP connection lease",
                "constraints": [models.UniqueConstraint(
                    fields=("config_key", "slot"), name="symfonia_mail_connection_slot")],
            },
        ),
    ]
