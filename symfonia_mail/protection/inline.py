"""Inline parts: the pictures an HTML body shows through ``cid:`` URLs (RFC 2392).

A logo in an invoice mail is a MIME part with a ``Content-ID`` that the HTML body
references as ``<img src="cid:…">``. It is part of the body, not an attachment
(DESIGN §11): attachment protection leaves it inline, unchanged, and keeps the
message's structure, so that the picture still shows.
"""

import re
from email.message import Message
from urllib.parse import unquote

# RFC 2392: "cid:" followed by the Content-ID without its angle brackets, URL-encoded;
# it ends where the attribute or CSS value ends.
_CID_URL = re.compile(r"""cid:([^\s"'<>()\\]+)""", re.IGNORECASE)


def html_bodies(message):
    """Return the HTML texts of *message*: its body when it is HTML, HTML alternatives."""
    texts = []
    if getattr(message, "content_subtype", "plain") == "html" and isinstance(message.body, str):
        texts.append(message.body)
    for alternative in getattr(message, "alternatives", None) or ():
        content, mimetype = alternative[0], alternative[1]
        if mimetype == "text/html":
            texts.append(content.decode("utf-8", "replace") if isinstance(content, bytes)
                         else str(content))
    return texts


def referenced_content_ids(message):
    """Return the Content-IDs (without angle brackets) that the HTML of *message* shows."""
    return {unquote(match) for text in html_bodies(message) for match in _CID_URL.findall(text)}


def is_inline_part(attachment, referenced):
    """Return whether *attachment* is a body picture: a MIME part the HTML references.

    A part that says ``Content-Disposition: attachment`` is a file whatever
    references it: it is protected like every attachment.
    """
    if not isinstance(attachment, Message) or attachment.is_multipart():
        return False
    content_id = str(attachment.get("Content-ID", "")).strip().strip("<>").strip()
    if not content_id or content_id not in referenced:
        return False
    return attachment.get_content_disposition() != "attachment"
