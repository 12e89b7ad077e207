"""A loopback Microsoft Graph mirror: sendMail, drafts from MIME, upload sessions.

Shapes from Microsoft's Graph v1.0 documentation ("user: sendMail", "Create
message" with MIME, "Attach large files to Outlook messages", "Microsoft
Graph error responses and resource types", "throttling"): ``POST
/v1.0/users/{id}/sendMail`` takes a base64 MIME message as ``text/plain`` and
answers 202 with no body; a request body over 4 MB is refused with 413;
``POST /v1.0/users/{id}/messages`` creates a draft (201, the message with its
``id``); ``…/attachments`` (201) and ``…/attachments/createUploadSession``
(201 with ``uploadUrl`` and ``nextExpectedRanges``) whose URL takes ``PUT``s
with ``Content-Range`` (200 with the next range, 201 at the end) and refuses
an Authorization header; ``…/messages/{id}/send`` (202). Errors are
``{"error": {"code", "message"}}``: 401 ``InvalidAuthenticationToken``, 403
``ErrorAccessDenied`` (permission missing, or a mailbox outside the app's
RBAC scope) and ``ErrorSendAsDenied``, 404 ``ErrorInvalidUser``, 429/503 with
``Retry-After``. Only live tokens of the suite's token endpoint for Graph's
scopes are accepted; an app token sends as any mailbox in ``rbac_scope``
(None: all), a user token only as its own.
"""

import base64
import binascii
import json
import re
import secrets
from email import message_from_bytes, policy
from email.utils import getaddresses, parseaddr

from .api_mirror import ApiMirror
from .oauth_server import GRAPH_APP_SCOPE, GRAPH_SEND_SCOPE

REQUEST_LIMIT = 4 * 1024 * 1024
ACCESS_DENIED = "Access is denied. Check credentials and try again."
SEND_AS_DENIED = ("The user account which was used to submit this request does not have the "
                  "right to send mail on behalf of the specified sending account., Cannot "
                  "submit message.")
USER_PATH = re.compile(r"^/v1\.0/users/([^/]+)(/.*)$")


def error(status, code, message, headers=None):
    return status, {"error": {"code": code, "message": message}}, headers or {}


class GraphMirror(ApiMirror):
    """Microsoft Graph's mail sending, for the mailboxes in ``mailboxes``."""

    def __init__(self, certificate, endpoint):
        super().__init__(certificate, endpoint)
        self.mailboxes = {endpoint.mailbox.lower(): set()}  # mailbox -> addresses it may send as
        self.rbac_scope = None  # mailboxes an app token may send as (None: every mailbox)
        self.drafts = {}  # id -> {"mailbox", "mime", "attachments": [(name, type, bytes)]}
        self.uploads = {}  # session id -> {"draft", "name", "type", "size", "data"}

    def settings(self):
        return {"GRAPH_URL": self.url}

    def route(self, request):
        if request.path.startswith("/upload/"):
            return self.upload(request)
        fault = self.take_fault()
        if fault is not None:
            return fault
        token = self.bearer(request)
        subject, scope = self.token_subject(token)
        if subject is None or scope not in (GRAPH_APP_SCOPE, GRAPH_SEND_SCOPE):
            return error(401, "InvalidAuthenticationToken",
                         "Access token is empty." if not token else
                         "Access token has expired or is not yet valid.",
                         {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'})
        match = USER_PATH.match(request.path)
        if match is None:
            return error(400, "BadRequest", "Resource not found for the segment.")
        mailbox, rest = match[1].lower(), match[2]
        if mailbox not in self.mailboxes:
            return error(404, "ErrorInvalidUser", f"The requested user '{match[1]}' is invalid.")
        app = subject.startswith("app:")
        if (app and self.rbac_scope is not None and mailbox not in self.rbac_scope) or (
                not app and subject.lower() != mailbox):
            return error(403, "ErrorAccessDenied", ACCESS_DENIED)
        granted = _permissions(token)
        needs = "Mail.Send" if rest == "/sendMail" or rest.endswith("/send") else "Mail.ReadWrite"
        if needs not in granted:
            return error(403, "ErrorAccessDenied", ACCESS_DENIED)
        return self.mail(request, mailbox, rest)

    def mail(self, request, mailbox, rest):
        if len(request.body) > REQUEST_LIMIT:
            return error(413, "RequestEntityTooLarge",
                         "The request body exceeds the maximum of 4 MB.")
        if request.method == "POST" and rest in ("/sendMail", "/messages"):
            mime, problem = self.mime_of(request, mailbox)
            if problem:
                return problem
            if rest == "/sendMail":
                self.deliver(mailbox, mime)
                return 202, None, {}
            draft_id = "AAMk" + secrets.token_urlsafe(16)
            self.drafts[draft_id] = {"mailbox": mailbox, "mime": mime, "attachments": []}
            return 201, {"id": draft_id, "isDraft": True}, {}
        match = re.fullmatch(r"/messages/([^/]+)(/.*)?", rest)
        draft = self.drafts.get(match[1]) if match else None
        if draft is None or draft["mailbox"] != mailbox:
            return error(404, "ErrorItemNotFound",
                         "The specified object was not found in the store.")
        action = match[2] or ""
        if request.method == "DELETE" and not action:
            del self.drafts[match[1]]
            return 204, None, {}
        if request.method == "POST" and action == "/attachments":
            item = request.json() or {}
            data = base64.b64decode(item.get("contentBytes", ""))
            draft["attachments"].append((item.get("name"), item.get("contentType"), data))
            return 201, {"id": secrets.token_urlsafe(8), "size": len(data)}, {}
        if request.method == "POST" and action == "/attachments/createUploadSession":
            item = (request.json() or {}).get("AttachmentItem") or {}
            if item.get("attachmentType") != "file" or int(item.get("size") or 0) > 150 << 20:
                return error(400, "ErrorInvalidRequest", "The attachment item is not valid.")
            session = secrets.token_urlsafe(16)
            self.uploads[session] = {"draft": match[1], "name": item.get("name"),
                                     "type": item.get("contentType"),
                                     "size": int(item["size"]), "data": bytearray()}
            return 201, {"uploadUrl": f"{self.url}/upload/{session}?authtoken={session[:8]}",
                         "expirationDateTime": "2099-01-01T00:00:00Z",
                         "nextExpectedRanges": ["0-"]}, {}
        if request.method == "POST" and action == "/send":
            self.deliver(mailbox, self.assemble(self.drafts.pop(match[1])))
            return 202, None, {}
        return error(405, "ErrorInvalidRequest", "The OData request is not supported.")

    def mime_of(self, request, mailbox):
        """Return (MIME bytes, None) of a base64 text/plain body, or (None, error answer)."""
        if not request.headers.get("Content-Type", "").startswith("text/plain"):
            return None, error(400, "ErrorInvalidRequest",
                               "Content-Type must be text/plain for MIME content.")
        try:
            mime = base64.b64decode(request.body, validate=True)
        except (binascii.Error, ValueError):
            return None, error(400, "ErrorMimeContentInvalidBase64String",
                               "Invalid base64 string for MIME content.")
        message = message_from_bytes(mime, policy=policy.default)
        sender = parseaddr(str(message.get("From", "")))[1].lower()
        if sender != mailbox and sender not in self.mailboxes[mailbox]:
            return None, error(403, "ErrorSendAsDenied", SEND_AS_DENIED)
        if not recipients_of(message):
            return None, error(400, "ErrorInvalidRecipients",
                               "At least one recipient is not valid.")
        return mime, None

    def upload(self, request):
        """A PUT to an upload session's URL (pre-authorised by its query)."""
        session_id = request.path.rsplit("/", 1)[-1]
        session = self.uploads.get(session_id)
        if session is None or request.query.get("authtoken") != session_id[:8]:
            return error(404, "ErrorItemNotFound", "The upload session was not found.")
        if "Authorization" in request.headers:
            return error(401, "InvalidAuthenticationToken",
                         "Do not send an Authorization header to the upload URL.")
        found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers.get("Content-Range", ""))
        start = int(found[1]) if found else -1
        if (not found or start != len(session["data"]) or int(found[3]) != session["size"]
                or int(found[2]) - start + 1 != len(request.body)):
            return error(416, "InvalidRange", "The Content-Range header is not valid.")
        session["data"] += request.body
        if len(session["data"]) < session["size"]:
            return 200, {"expirationDateTime": "2099-01-01T00:00:00Z",
                         "nextExpectedRanges": [f"{len(session['data'])}-"]}, {}
        del self.uploads[session_id]
        self.drafts[session["draft"]]["attachments"].append(
            (session["name"], session["type"], bytes(session["data"])))
        return 201, None, {"Location": f"{self.url}/attachments/{session_id}"}

    def assemble(self, draft):
        """Return the draft's MIME with its added attachments, as Exchange would send it."""
        message = message_from_bytes(draft["mime"], policy=policy.default)
        for name, content_type, data in draft["attachments"]:
            maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        return message.as_bytes()

    def deliver(self, mailbox, mime):
        with self.lock:
            self.delivered.append((mailbox, mime))


def recipients_of(message):
    """Return the addresses of To, Cc and Bcc of a parsed message."""
    values = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    return [address for _name, address in getaddresses(values) if address]


def _permissions(token):
    """Return the roles or scp of a Graph token the endpoint issued (a JWT)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return set()
    return set(claims.get("roles") or ()) | set(str(claims.get("scp") or "").split())
