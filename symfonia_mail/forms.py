"""The MessageTemplate form: the 32 KB HTML limit and the warnings Symfonia never gave."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from .macros import MACROS, unknown_macros
from .models import MessageTemplate
from .templates import MAX_HTML_BYTES, is_html


def validate_body_size(body):
    """Refuse an HTML body over 32 KB (32,768 bytes UTF-8), saying both sizes."""
    if not is_html(body):
        return
    size = len(body.encode("utf-8"))
    if size > MAX_HTML_BYTES:
        raise ValidationError(
            _("The HTML body is %(size)s bytes (UTF-8); an HTML template may have at most "
              "%(limit)s bytes (32 KB)."),
            code="html_too_long",
            params={"size": _number(size), "limit": _number(MAX_HTML_BYTES)},
        )


def _number(value):
    return number_format(value, force_grouping=True)


def template_warnings(subject, body):
    """Return warnings (strings) about *subject* and *body* that do not block saving.

    Unknown macros do not block: brace text made of words may be meant
    literally, and Symfonia stores any text; but a typo like ``{numr}`` would
    reach the contractor as written, so the person saving must see it.
    """
    warnings = []
    valid = ", ".join("{" + name + "}" for name in MACROS)
    for where, text in ((_("subject"), subject), (_("body"), body)):
        for token, suggestion in unknown_macros(text or ""):
            if suggestion:
                message = _("%(token)s in the %(where)s is not a macro and will be sent as "
                            "written; did you mean {%(suggestion)s}? Valid macros: %(valid)s.")
            else:
                message = _("%(token)s in the %(where)s is not a macro and will be sent as "
                            "written. Valid macros: %(valid)s.")
            warnings.append(message % {"token": token, "where": where,
                                       "suggestion": suggestion, "valid": valid})
    if is_html(body) and not body.rstrip().lower().endswith("</html>"):
        warnings.append(str(_(
            "The body starts with <html but does not end with </html>: it is sent as HTML "
            "as it is; check that nothing was cut off."
        )))
    return [str(w) for w in warnings]


class MessageTemplateForm(forms.ModelForm):
    """Edit a template; ``form.warnings`` lists what the admin should show after saving."""

    class Meta:
        model = MessageTemplate
        fields = ["key", "owner", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 20, "cols": 100,
                                                 "spellcheck": "true"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.warnings = []

    def clean_body(self):
        # Browsers submit CRLF line ends; store LF so the size is what the text is.
        body = (self.cleaned_data.get("body") or "").replace("\r\n", "\n")
        validate_body_size(body)
        return body

    def clean(self):
        cleaned = super().clean()
        self.warnings = template_warnings(cleaned.get("subject"), cleaned.get("body"))
        return cleaned
