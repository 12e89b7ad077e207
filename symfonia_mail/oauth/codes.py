"""OAuth2 problems: the identity platforms' answers turned into our problem codes.

Error codes from the identity platforms are mapped here: Microsoft answers
``{"error": "invalid_grant", "error_codes": [65001], ...}`` (the AADSTS
numbers), Google ``{"error": "invalid_grant", "error_description": ...}``.
"""

import re

from django.utils.translation import gettext_noop

from ..exceptions import OAuthError

_AADSTS = re.compile(r"AADSTS(\d+)")


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
