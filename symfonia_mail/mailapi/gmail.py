"""The Gmail API: ``users.messages.send`` with the raw MIME, or its media upload when large.

Google, "Gmail API: users.messages.send": ``POST /gmail/v1/users/me/messages/send``
with ``{"raw": <base64url MIME>}`` answers 200 with the Message resource; the
upload URI ``POST /upload/gmail/v1/users/me/messages/send?uploadType=media``
takes the MIME itself as ``message/rfc822``, up to 35 MB. ``me`` is the
signed-in account: Gmail takes the recipients from To, Cc and Bcc and files
the message in the account's Sent label.
"""

import base64

from .. import conf
from ..exceptions import MailApiError
from .transport import ApiTransport, json_body

MAX_BYTES = 35 * 1024 * 1024  # the upload endpoint's limit
# Above this size the MIME goes as is (media upload) instead of a third larger in JSON.
UPLOAD_OVER = 4 * 1024 * 1024


class GmailTransport(ApiTransport):
    """Send through the Gmail API as the signed-in account."""

    service = "gmail"

    def submit(self, mime):
        base = conf.get("GMAIL_API_URL").rstrip("/")
        if len(mime) > MAX_BYTES:
            raise MailApiError("api_too_large", (
                f"The message has {len(mime) / 1048576:.1f} MB; the Gmail API accepts "
                "at most 35 MB."), status=413)
        if len(mime) > UPLOAD_OVER:
            response = self.call(
                "POST", f"{base}/upload/gmail/v1/users/me/messages/send",
                params={"uploadType": "media"}, data=mime,
                headers={"Content-Type": "message/rfc822"}, expect=(200,))
            route = "media upload"
        else:
            raw = base64.urlsafe_b64encode(mime).decode("ascii")
            response = self.call("POST", f"{base}/gmail/v1/users/me/messages/send",
                                 json={"raw": raw}, expect=(200,))
            route = "raw"
        message_id = json_body(response).get("id", "")
        return f"Sent through the Gmail API ({route}); Gmail message id {message_id}."[:500]

