"""Message templates: a subject and body per key, global or a user's own."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ..validators import (
    validate_body_size,
    validate_no_control_chars,
    validate_template_key,
)


class MessageTemplate(models.Model):
    """A subject and body for a key (e.g. invoice), global or a user's own."""

    key = models.SlugField(_("key"), max_length=64, validators=[validate_template_key])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="mail_templates",
        help_text=_("Empty: the template is common to all users."),
    )
    subject = models.CharField(
        _("subject"), max_length=998, validators=[validate_no_control_chars]
    )
    body = models.TextField(_("body"), validators=[validate_body_size])
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["key", "owner_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "key"], name="symfonia_mail_template_owner_key"
            ),
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(owner__isnull=True),
                name="symfonia_mail_template_global_key",
            ),
        ]

    def __str__(self):
        # Not an f-string: makemessages cannot see a gettext call inside one.
        owner = self.owner if self.owner_id else _("global")
        return "%s (%s)" % (self.key, owner)  # noqa: UP031
