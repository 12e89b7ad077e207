"""A loopback Gmail API mirror: users.messages.send, raw and media upload.

Shapes from Google's documentation ("Gmail API: users.messages.send",
"Sending email", "Uploading attachments", "Resolve errors", the Google
Cloud API error model): ``POST /gmail/v1/users/me/messages/send`` with
``{"raw": <base64url MIME>}`` and ``POST
/upload/gmail/v1/users/me/messages/send?uploadType=media`` with
``Content-Type: message/rfc822`` answer 200 with ``{"id", "threadId",
"labelIds": ["SENT"]}``; the upload takes at most 35 MB (413 above). Errors
are ``{"error": {"code": <HTTP status>, "message", "errors": [{"reason"}],
"status"}}``: 401 ``UNAUTHENTICATED``, 403 ``PERMISSION_DENIED`` with
``ACCESS_TOKEN_SCOPE_INSUFFICIENT`` for a token without a sending scope,
400 ``INVALID_ARGUMENT``, 429 ``RESOURCE_EXHAUSTED`` and 503 ``UNAVAILABLE``
(``Retry-After`` when given). ``me`` is the token's account; only live
tokens of the suite's token endpoint are accepted.
"""

import base64
import binascii
import secrets
from email import message_from_bytes, policy

from .api_mirror import ApiMirror
from .graph_server import recipients_of
from .oauth_server import GMAIL_SEND_SCOPE, GOOGLE_SCOPE

MAX_BYTES = 35 * 1024 * 1024
# Scopes that may send (Google, "Choose Gmail API scopes").
SENDING_SCOPES = {GMAIL_SEND_SCOPE, GOOGLE_SCOPE, "https://www.googleapis.com/auth/gmail.compose",
                  "https://www.googleapis.com/auth/gmail.modify"}


def error(status, state, message, reason="", headers=None):
    body = {"code": status, "message": message, "status": state}
    if reason:
        body["errors"] = [{"message": message, "domain": "global", "reason": reason}]
    return status, {"error": body}, headers or {}


class GmailMirror(ApiMirror):
    """The Gmail API's message sending."""

    def settings(self):
        return {"GMAIL_API_URL": self.url}

    def route(self, request):
        fault = self.take_fault()
        if fault is not None:
            return fault
        subject, scope = self.token_subject(self.bearer(request))
        if subject is None:
            return error(401, "UNAUTHENTICATED",
                         "Request had invalid authentication credentials. Expected OAuth 2 "
                         "access token, login cookie or other valid authentication "
                         "credential.", "authError",
                         {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        if scope not in SENDING_SCOPES:
            status, body, headers = error(403, "PERMISSION_DENIED",
                                          "Request had insufficient authentication scopes.",
                                          "insufficientPermissions")
            body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                         "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                                         "domain": "googleapis.com"}]
            return status, body, headers
        if len(request.body) > MAX_BYTES * 4 // 3 + 1024:
            return error(413, "FAILED_PRECONDITION",
                         f"Request payload size exceeds the limit: {MAX_BYTES} bytes.")
        if request.method != "POST":
            return error(404, "NOT_FOUND", "Not Found")
        if request.path == "/gmail/v1/users/me/messages/send":
            raw = (request.json() or {}).get("raw", "")
            try:
                mime = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
            except (binascii.Error, ValueError):
                mime = b""
            if not mime:
                return error(400, "INVALID_ARGUMENT", "Invalid value for ByteString: raw",
                             "invalidArgument")
        elif request.path == "/upload/gmail/v1/users/me/messages/send":
            if request.query.get("uploadType") not in ("media", "multipart", "resumable"):
                return error(400, "INVALID_ARGUMENT", "Invalid upload type.", "badRequest")
            if not request.headers.get("Content-Type", "").startswith("message/"):
                return error(400, "INVALID_ARGUMENT",
                             "Media type 'application/octet-stream' is not supported.",
                             "badContent")
            mime = request.body
        else:
            return error(404, "NOT_FOUND", "Not Found")
        if len(mime) > MAX_BYTES:
            return error(413, "FAILED_PRECONDITION",
                         f"Request payload size exceeds the limit: {MAX_BYTES} bytes.")
        if not recipients_of(message_from_bytes(mime, policy=policy.default)):
            return error(400, "INVALID_ARGUMENT", "Recipient address required",
                         "invalidArgument")
        with self.lock:
            self.delivered.append((subject, mime))
        return 200, {"id": secrets.token_hex(8), "threadId": secrets.token_hex(8),
                     "labelIds": ["SENT"]}, {}
