"""The template preview view, for the admin to mount with ``admin_site.admin_view``."""

import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST

from ..content.templated import TemplateNotFoundError, preview
from ..validators import validate_body_size
from .forms import template_warnings

# The HTML parts of the last previews, by token, in the session of who asked for them.
PREVIEW_SESSION_KEY = "symfonia_mail_previews"
PREVIEWS_KEPT = 5
# The HTML part is a mail: its own inline styles and data: images, never a script, a
# request or a form (the iframe's sandbox says the same). Set on the response, it takes
# the place of the site's policy (Django 6's CSP middleware keeps a header a view set).
HTML_PART_POLICY = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; "
                    "img-src data:; font-src data:")


def require_staff(request):
    """Refuse a user who is not active staff."""
    user = request.user
    if not (user.is_active and user.is_staff):
        raise PermissionDenied


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
    require_staff(request)
    user = request.user
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
    if html:
        result["html_url"] = remember_html_part(request, html)
    return TemplateResponse(request, "symfonia_mail/template_preview.html", result)


def remember_html_part(request, html):
    """Keep *html* in the session for the preview's frame; return the frame's URL.

    The frame loads it from its own URL rather than from ``srcdoc``: a srcdoc
    document runs under the admin page's Content-Security-Policy, which refuses
    the mail's inline styles.
    """
    token = secrets.token_urlsafe(12)
    kept = dict(list(request.session.get(PREVIEW_SESSION_KEY, {}).items())[-PREVIEWS_KEPT + 1:])
    kept[token] = html
    request.session[PREVIEW_SESSION_KEY] = kept
    return reverse("admin:symfonia_mail_messagetemplate_preview_html", args=[token])


@never_cache
@xframe_options_sameorigin
@require_GET
def template_preview_html(request, token):
    """Return the HTML part of a preview this session asked for, sandboxed."""
    require_staff(request)
    html = request.session.get(PREVIEW_SESSION_KEY, {}).get(token)
    if html is None:
        raise Http404
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = HTML_PART_POLICY
    return response
