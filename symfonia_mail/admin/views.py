"""The template preview view, for the admin to mount with ``admin_site.admin_view``."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_POST

from ..content.templated import TemplateNotFoundError, preview
from ..validators import validate_body_size
from .forms import template_warnings


def wants_json(request):
    """Return True when *request* asks for a JSON answer (the admin's page script)."""
    return "application/json" in request.headers.get("Accept", "")


@require_POST
def template_preview(request):
    """Render the posted subject and body with sample values; send nothing.

    POST fields: ``subject``, ``body`` (the change form's values, unsaved) or
    only ``key`` for the template that applies to the user. The answer is an
    HTML page (the HTML part shown in a sandboxed iframe, so no script in a
    template runs in the admin), or JSON when the request accepts it.
    """
    user = request.user
    if not (user.is_active and user.is_staff):
        raise PermissionDenied
    data = {name: request.POST.get(name, "") for name in ("key", "subject", "body")}
    data["body"] = data["body"].replace("\r\n", "\n")
    problems = template_warnings(data["subject"], data["body"], data["key"])
    try:
        validate_body_size(data["body"])
    except ValidationError as exc:
        problems = [*exc.messages, *problems]
    try:
        subject, text, html = preview(data, user)
    except TemplateNotFoundError as exc:
        subject, text, html = "", "", ""
        problems.append(str(exc))
    result = {"subject": subject, "text": text, "html": html, "warnings": problems}
    if wants_json(request):
        return JsonResponse(result)
    return TemplateResponse(request, "symfonia_mail/template_preview.html", result)
