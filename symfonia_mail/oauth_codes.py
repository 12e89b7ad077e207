"""OAuth2 problems: stable codes with what to do (merged into problems.CODES), from answers.

Error codes from the identity platforms are mapped here: Microsoft answers
``{"error": "invalid_grant", "error_codes": [65001], ...}`` (the AADSTS
numbers), Google ``{"error": "invalid_grant", "error_description": ...}``.
"""

import re

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from .exceptions import OAuthError

_AADSTS = re.compile(r"AADSTS(\d+)")

MICROSOFT_OAUTH_HELP = (
    "https://learn.microsoft.com/exchange/client-developer/legacy-protocols/"
    "how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth"
)
GOOGLE_OAUTH_HELP = "https://developers.google.com/gmail/imap/xoauth2-protocol"

OAUTH_CODES = {
    "oauth_not_connected": _(
        "No account is connected. Save the configuration and press “Connect Microsoft "
        "account” or “Connect Google account”, then sign in as the mailbox's user "
        "(for Microsoft 365 you can enter a client secret for unattended sign-in instead)."
    ),
    "oauth_grant_revoked": _(
        "The stored sign-in is no longer valid: it was revoked, expired after a long time "
        "unused, or the account's password changed. Press “Connect” again and sign in "
        "as the mailbox's user."
    ),
    "oauth_secret_expired": _(
        "The client secret of the application has expired. Create a new client secret "
        "for the application (Microsoft Entra admin center > App registrations > "
        "Certificates & secrets) and enter it here."
    ),
    "oauth_client_invalid": _(
        "The identity platform refused the application's credentials: check the client "
        "ID and the client secret (enter the secret's value, not its ID)."
    ),
    "oauth_app_not_found": _(
        "No application with this client ID exists in this directory: check the client ID "
        "and the directory (tenant)."
    ),
    "oauth_consent_required": _(
        "The application has no consent for this permission yet. An administrator must "
        "grant consent: for unattended sign-in add the API permission “SMTP.SendAsApp” "
        "(Office 365 Exchange Online) and press “Grant admin consent”; for a connected "
        "account sign in again and accept."
    ),
    "oauth_tenant_not_found": _(
        "The Microsoft directory (tenant) was not found. Enter the directory (tenant) ID "
        "shown on the application's overview page, or your domain such as "
        "firma.onmicrosoft.com."
    ),
    "oauth_conditional_access": _(
        "The organisation's sign-in policy (multi-factor authentication or conditional "
        "access) blocked the sign-in. Connect the account again, or ask the administrator "
        "to allow this application."
    ),
    "oauth_unreachable": _(
        "The identity platform could not be reached. Check this server's internet "
        "connection, proxy and firewall (HTTPS to the sign-in service)."
    ),
    "oauth_unreadable_secret": _(
        "The stored client secret or sign-in cannot be decrypted with the current "
        "FIELD_ENCRYPTION_KEY. Restore the key it was saved with, or enter the client "
        "secret again and connect the account again."
    ),
    "oauth_error": _("The identity platform refused to issue an access token."),
    "oauth_login_refused": _(
        "The mail server refused the OAuth2 login although the token was issued. For "
        "Microsoft 365: turn on “Authenticated SMTP” for the mailbox; for unattended "
        "sign-in also register the application in Exchange Online "
        "(New-ServicePrincipal) and give it access to the mailbox (Add-MailboxPermission). "
        "For Google: the user name must be the connected account's address."
    ),
    "oauth_not_offered": _(
        "The server does not offer OAuth2 login (XOAUTH2). Use smtp.office365.com "
        "(Microsoft 365) or smtp.gmail.com (Google), port 587 with STARTTLS."
    ),
}

OAUTH_HELP_URLS = {
    "oauth_login_refused": MICROSOFT_OAUTH_HELP,
    "oauth_consent_required": MICROSOFT_OAUTH_HELP,
}


def unreachable(exc):
    """Return the OAuthError for a token endpoint that could not be reached."""
    return OAuthError("oauth_unreachable",
                      gettext_noop("The sign-in service could not be reached (%(error)s)."),
                      params={"error": type(exc).__name__})


def checked_answer(answer, provider):
    """Return *answer* when it holds an access token, else raise OAuthError for it."""
    if isinstance(answer, dict) and answer.get("access_token"):
        return answer
    answer = answer if isinstance(answer, dict) else {}
    error = str(answer.get("error") or "no_token")
    description = str(answer.get("error_description") or "")
    codes = [int(c) for c in answer.get("error_codes") or []] or [
        int(c) for c in _AADSTS.findall(description)]
    code = problem_code(error, codes)
    # Microsoft appends trace ids and a timestamp: keep the sentence a person reads.
    description = description.split(" Trace ID:")[0].strip()
    raise OAuthError(code, gettext_noop("%(provider)s refused to issue an access token."),
                     params={"provider": provider}, error=error, error_codes=codes,
                     description=description)


def problem_code(error, codes):
    """Return our problem code for an OAuth2 *error* and Microsoft's AADSTS *codes*."""
    codes = set(codes)
    if 7000222 in codes:
        return "oauth_secret_expired"
    if codes & {700016}:
        return "oauth_app_not_found"
    if codes & {65001, 65004, 650051} or error == "consent_required":
        return "oauth_consent_required"
    if codes & {90002, 90023, 900023}:
        return "oauth_tenant_not_found"
    if codes & {50076, 50079, 50158, 53003} or error == "interaction_required":
        return "oauth_conditional_access"
    if error in ("invalid_client", "unauthorized_client") or codes & {7000215, 7000218}:
        return "oauth_client_invalid"
    if error == "invalid_grant":
        return "oauth_grant_revoked"
    return "oauth_error"
