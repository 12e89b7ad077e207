"""The common part of the API transports: Bcc header, access token, one retry after 401."""

from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

from ..models import Transport
from ..oauth import tokens as oauth
from . import errors, http

API_TRANSPORTS = (Transport.MICROSOFT_GRAPH, Transport.GMAIL_API)


@dataclass
class Sent:
    """What the API said about one message (the fields the backend reads off a delivery)."""

    note: str = ""
    refused: dict = field(default_factory=dict)  # the APIs refuse a message as a whole
    dsn_requested: str = ""  # the APIs offer no DSN
    envelope_id: str = ""
    reply: str = ""


class ApiTransport:
    """Hand prepared messages to a mailbox API; the same deliver() as an SMTP connection."""

    service = ""  # oauth.service() of the configuration: "graph" or "gmail"

    def __init__(self, config, *, record=True, retry=True):
        self.config = config
        self.record = record  # an OAuth2 failure is written on the stored configuration
        self.retry = retry  # a refused token is replaced once (not in Test SMTP)
        self.grant = None
        self.failed_stage = ""

    def __repr__(self):
        return f"<{type(self).__name__} {self.config.key}>"

    def open(self):
        """Nothing to open: the process's pool connects on the first request."""
        return False

    def discard(self):
        """Nothing to close: the pool keeps its connections for the next message."""

    close = discard

    def deliver(self, from_addr, recipients, data):
        """Send *data* (the MIME without Bcc) to *recipients* through the API."""
        self.failed_stage = "message"
        note = self.submit(with_bcc(data, recipients))
        self.failed_stage = ""
        return Sent(note=note, reply=note)

    def submit(self, mime):
        """Send the MIME message *mime*; return a note for the log."""
        raise NotImplementedError

    def token(self, *, force=False):
        """Return an access token for this service (cached unless *force*)."""
        self.grant = oauth.access_token(self.config, force=force, record=self.record)
        return self.grant.access_token

    def call(self, method, url, *, needs=(), expect=(200, 201, 202), authorize=True,
             **kwargs):
        """Send one request; replace a refused token once; raise MailApiError on an error."""
        headers = dict(kwargs.pop("headers", None) or {})
        token = ""
        for attempt in range(2):
            if authorize:
                token = self.token(force=attempt > 0)
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = http.request(self.config, method, url, headers=headers, **kwargs)
            except OSError as exc:  # requests' errors are OSErrors
                raise errors.from_exception(exc, self.service, sent=True) from None
            if response.status_code in expect:
                return response
            if response.status_code == 401 and authorize and self.retry and attempt == 0:
                continue  # the token was refused (revoked, clock jump): a fresh one, once
            raise errors.from_response(response, self.service, token=token, needs=needs)
        raise AssertionError("unreachable")  # the second round returns or raises


def with_bcc(data, recipients):
    """Return *data* with a Bcc header naming the recipients that To and Cc do not show.

    Both APIs take the recipients from the MIME headers and drop Bcc on
    delivery (DESIGN §11); the SMTP route keeps them in the envelope only.
    """
    # Only the header block is read: the body may be tens of megabytes.
    ends = [index for index in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if index >= 0]
    header_block = data[:min(ends) + 2] if ends else data
    head = BytesHeaderParser(policy=compat32).parsebytes(header_block, headersonly=True)
    shown = {address.lower() for _name, address in getaddresses(
        [str(value) for name in ("To", "Cc") for value in head.get_all(name, [])])}
    blind = [address for address in dict.fromkeys(recipients) if address.lower() not in shown]
    if not blind:
        return data
    # One address a line: a long BCC list stays within RFC 5322's 998 characters.
    return b"Bcc: " + ",\r\n ".join(blind).encode() + b"\r\n" + data



def json_body(response):
    """Return the JSON object of *response*, or {} when it has none."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
