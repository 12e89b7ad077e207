"""Microsoft Graph: ``sendMail`` with the MIME message, or a draft with upload sessions.

Microsoft Graph v1.0 documentation: "user: sendMail" — ``POST
/users/{id}/sendMail`` with the MIME message base64-encoded as ``text/plain``
answers 202 Accepted and saves a copy in Sent Items; a request may carry at
most 4 MB. "Send Outlook messages from another user" and "Attach large files
to Outlook messages" — a larger message is created as a draft from the MIME
without its big attachments (``POST /users/{id}/messages``, same encoding,
201), each attachment follows: under 3 MB as a ``fileAttachment`` (``POST
…/attachments``), 3–150 MB through ``…/attachments/createUploadSession`` and
``PUT``s of 320 KiB multiples to the returned ``uploadUrl`` (pre-authorised:
no Authorization header), then ``POST …/messages/{id}/send`` (202).
"""

import base64
from email.parser import BytesParser
from email.policy import compat32
from urllib.parse import quote

from .. import conf
from ..exceptions import MailApiError
from . import http
from .transport import ApiTransport, json_body

SEND_MAIL_MAX = 4_000_000  # bytes of request body; Graph refuses above 4 MB (413)
# Smaller attachments go in one POST, whose base64 in JSON must stay under SEND_MAIL_MAX;
# Microsoft documents upload sessions "for 3 MB to 150 MB": from just under, not above.
UPLOAD_SESSION_FROM = 2_990_000
CHUNK = 10 * 320 * 1024  # a multiple of 320 KiB, as upload sessions require
MAX_ATTACHMENT = 150 * 1024 * 1024
SEND = ("Mail.Send",)
DRAFT = ("Mail.ReadWrite",)


class GraphTransport(ApiTransport):
    """Send through Microsoft Graph as the configuration's mailbox (its user name)."""

    service = "graph"

    @property
    def user_url(self):
        base = conf.get("GRAPH_URL").rstrip("/")
        return f"{base}/v1.0/users/{quote(self.config.username, safe='@')}"

    def submit(self, mime):
        encoded = base64.b64encode(mime)
        if len(encoded) <= SEND_MAIL_MAX:
            self.call("POST", f"{self.user_url}/sendMail", data=encoded, needs=SEND,
                      headers={"Content-Type": "text/plain"}, expect=(202,))
            return "Sent through Microsoft Graph (sendMail)."
        return self.send_as_draft(mime)

    def send_as_draft(self, mime):
        """Send a message over the request limit: a draft, its attachments, then send."""
        message = BytesParser(policy=compat32).parsebytes(mime)
        detached = detach_largest(message, SEND_MAIL_MAX)
        draft = self.call("POST", f"{self.user_url}/messages", needs=DRAFT,
                          data=base64.b64encode(message.as_bytes()),
                          headers={"Content-Type": "text/plain"}, expect=(201,))
        draft_url = f"{self.user_url}/messages/{quote(str(json_body(draft).get('id', '')))}"
        try:
            for part in detached:
                self.attach(draft_url, part)
            self.call("POST", f"{draft_url}/send", needs=SEND, expect=(202,),
                      headers={"Content-Length": "0"})
        except BaseException:
            self.delete_draft(draft_url)
            raise
        return (f"Sent through Microsoft Graph as a draft with {len(detached)} attachment(s) "
                "added separately (the message exceeds sendMail's 4 MB).")

    def attach(self, draft_url, part):
        """Add one detached attachment *part* to the draft."""
        data = part.get_payload(decode=True) or b""
        item = {"name": part.get_filename() or "attachment", "size": len(data),
                "contentType": part.get_content_type()}
        if len(data) > MAX_ATTACHMENT:
            raise MailApiError("api_too_large", (
                f"The attachment {item['name']!r} has {len(data) / 1048576:.1f} MB; "
                "Microsoft Graph accepts at most 150 MB."), status=413)
        if len(data) < UPLOAD_SESSION_FROM:
            self.call("POST", f"{draft_url}/attachments", needs=DRAFT, expect=(201,), json={
                "@odata.type": "#microsoft.graph.fileAttachment", **item,
                "contentBytes": base64.b64encode(data).decode("ascii")})
            return
        session = self.call("POST", f"{draft_url}/attachments/createUploadSession",
                            needs=DRAFT, expect=(201,),
                            json={"AttachmentItem": {"attachmentType": "file", **item}})
        upload_url = json_body(session).get("uploadUrl", "")
        for start in range(0, len(data), CHUNK):
            chunk = data[start:start + CHUNK]
            end = start + len(chunk) - 1
            # The upload URL carries its own authorisation; a Bearer token is refused.
            self.call("PUT", upload_url, authorize=False, data=chunk, expect=(200, 201),
                      headers={"Content-Type": "application/octet-stream",
                               "Content-Range": f"bytes {start}-{end}/{len(data)}"})

    def delete_draft(self, draft_url):
        """Remove the unsent draft (best effort: the error that stopped us matters more)."""
        try:
            http.request(self.config, "DELETE", draft_url,
                         headers={"Authorization": f"Bearer {self.grant.access_token}"})
        except OSError:
            pass


def detach_largest(message, limit):
    """Remove attachments from *message*, largest first, until its base64 fits *limit*.

    Return the removed parts. Inline parts (the HTML's ``cid:`` images) stay.
    """
    found = []  # (encoded size, container, part)
    for container in message.walk():
        if not container.is_multipart():
            continue
        for part in container.get_payload():
            if not part.is_multipart() and part.get_content_disposition() == "attachment":
                found.append((len(part.get_payload()), container, part))
    size = len(message.as_bytes())
    detached = []
    for encoded_size, container, part in sorted(found, key=lambda item: -item[0]):
        if _base64_size(size) <= limit:
            break
        container.set_payload([p for p in container.get_payload() if p is not part])
        size -= encoded_size
        detached.append(part)
    if _base64_size(len(message.as_bytes())) > limit:
        raise MailApiError("api_too_large", (
            "The message without its attachments is still over Microsoft Graph's 4 MB "
            "request limit."), status=413)
    return detached


def _base64_size(size):
    return 4 * ((size + 2) // 3)

