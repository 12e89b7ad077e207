"""Sending through the mailbox's own API: Microsoft Graph and the Gmail API (DESIGN §11).

``transport_for(config)`` returns the object that hands a prepared message
to the configuration's API, with the same ``deliver(from_addr, recipients,
data)`` as the SMTP connection, so the backend and the background worker
send through either the same way.
"""

from ..models import Transport
from .gmail import GmailTransport
from .graph import GraphTransport
from .transport import API_TRANSPORTS, ApiTransport

__all__ = ["API_TRANSPORTS", "ApiTransport", "GmailTransport", "GraphTransport",
           "transport_for"]

_KINDS = {Transport.MICROSOFT_GRAPH: GraphTransport, Transport.GMAIL_API: GmailTransport}


def transport_for(config, **options):
    """Return the API transport for *config* (``microsoft_graph`` or ``gmail_api``)."""
    return _KINDS[config.transport](config, **options)
