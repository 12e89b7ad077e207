"""Turn a mailbox API's error answer into a MailApiError with a problem code and a hint.

Shapes (Microsoft Graph "Error responses", Google "Gmail API errors"):
Graph ``{"error": {"code": "ErrorAccessDenied", "message": "…"}}``; Google
``{"error": {"code": 403, "message": "…", "status": "PERMISSION_DENIED",
"errors": [{"reason": "insufficientPermissions"}], "details": [{"reason":
"ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}``. The log gets the status, the
provider's code and its one-line message, never the JSON.
"""

import base64
import json
import time
from email.utils import parsedate_to_datetime

from ..exceptions import MailApiError, MailApiTemporaryError

SERVICE_NAMES = {"graph": "Microsoft Graph", "gmail": "The Gmail API"}
MESSAGE_CHARS = 300  # of the provider's message kept in the reason


def from_response(response, service, *, token="", needs=()):
    """Return the MailApiError for an error *response* of *service*.

    *needs*: the Graph permissions the request needed (named when one is
    missing); *token*: the access token sent, whose claims say which it had.
    """
    status = response.status_code
    error, text, reasons = _error_fields(response)
    name = SERVICE_NAMES[service]
    detail = ": ".join(filter(None, (error, text)))
    reason = f"{name} answered HTTP {status}" + (f" ({detail})" if detail else "") + "."
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    if status == 429 or status >= 500:
        code = "api_throttled" if status == 429 else "api_unavailable"
        if retry_after is not None:
            reason = f"{reason[:-1]}; retry after {retry_after:g} s."
        return MailApiTemporaryError(code, reason, status=status, error=error,
                                     retry_after=retry_after)
    code = _permanent_code(status, error, reasons, service)
    if code == "api_access_denied" and service == "graph":
        code, reason = _graph_denied(reason, token, needs)
    return MailApiError(code, reason, status=status, error=error)


def _permanent_code(status, error, reasons, service):
    if error == "ErrorSendAsDenied":
        return "api_send_as_denied"
    if status == 401:
        return "api_token_refused"
    if status == 403:
        if service == "gmail" and reasons & {"ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                                             "insufficientPermissions"}:
            return "api_gmail_scope_missing"
        return "api_access_denied"
    if status == 404 or error in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI"):
        return "api_mailbox_not_found"
    if status == 413:
        return "api_too_large"
    if status == 400:
        return "api_message_refused"
    return "api_error"


def _graph_denied(reason, token, needs):
    """Say which permission is missing, or that the mailbox is outside the app's scope.

    Graph answers ErrorAccessDenied for both; the token's own claims (``roles``
    for an application, ``scp`` for a user) tell them apart.
    """
    granted = token_permissions(token)
    if granted is None:
        return "api_access_denied", reason
    missing = [permission for permission in needs if permission not in granted]
    if missing:
        return "api_graph_permission_missing", (
            f"{reason} The access token has no {' or '.join(missing)} permission.")
    return "api_mailbox_out_of_scope", reason


def token_permissions(token):
    """Return the permissions in a Microsoft access token (a JWT), or None if unreadable.

    Only read to name a missing permission; the API, not this, checks the token.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, AttributeError):
        return None
    if not isinstance(claims, dict):
        return None
    return set(claims.get("roles") or ()) | set(str(claims.get("scp") or "").split())


def _error_fields(response):
    """Return (provider error code, one-line message, reason codes) of an error answer."""
    try:
        body = response.json()
    except ValueError:
        return "", "", set()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", "", set()
    # Graph: code is a name; Google: code is the HTTP status and status is the name.
    code = error.get("status") or error.get("code") or ""
    code = code if isinstance(code, str) else ""
    text = " ".join(str(error.get("message") or "").split())[:MESSAGE_CHARS]
    reasons = {str(item.get("reason")) for key in ("errors", "details")
               for item in error.get(key) or () if isinstance(item, dict)}
    return code[:100], text, reasons


def retry_after_seconds(value):
    """Return the seconds a Retry-After header asks for (delta or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def from_exception(exc, service, *, sent):
    """Return the MailApiError for a requests exception (*sent*: the body went out)."""
    import requests

    name = SERVICE_NAMES[service]
    what = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError):
        code = ("certificate_not_trusted" if "CERTIFICATE_VERIFY_FAILED" in str(exc)
                else "tls_error")
        return MailApiError(code, f"{name}: the secure connection failed ({what}).")
    if isinstance(exc, requests.exceptions.ReadTimeout) and sent:
        return MailApiError("api_no_answer", f"{name} did not answer in time ({what}).",
                            outcome_unknown=True)
    return MailApiTemporaryError("api_unreachable", f"{name} cannot be reached ({what}).")
