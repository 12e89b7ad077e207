"""Large attachments in a message's bytes: base64-encoded once, in C, and spliced in.

Python's email package encodes an attachment to base64 text, searches the
whole text for a boundary collision, then writes it out again line by line
(two Python calls per 76-character line): for two 1 MB PDFs that is ~0.2 s of
a ~0.25 s message build (bench/bench_mime.py). So each large binary
attachment goes into the MIME tree as a short unique placeholder; the
finished bytes get the real content, encoded once by ``base64.encodebytes``,
in place of the placeholder's line. Headers, boundaries and every other part
are exactly what Django builds.
"""

import base64
import uuid
from contextlib import contextmanager

# Below this size the email package is fast enough, and the message stays untouched.
LARGE = 32 * 1024


@contextmanager
def large_attachments_spliced(message):
    """Swap *message*'s large binary attachments for placeholders while the block runs.

    Yields ``splice(data) -> bytes``, which puts their content into the bytes
    of the message built inside the block. The attachments are restored after.
    """
    original = message.attachments
    swaps = []  # (placeholder line, content)
    attachments = []
    for attachment in original:
        content = _large_binary(attachment)
        if content is None:
            attachments.append(attachment)
            continue
        token = f"symfonia-mail-attachment-{uuid.uuid4().hex}".encode("ascii")
        swaps.append((base64.b64encode(token), content))
        attachments.append(attachment._replace(content=token))
    if not swaps:
        yield lambda data: data
        return
    message.attachments = attachments
    try:
        yield lambda data: _splice(data, swaps)
    finally:
        message.attachments = original


def _large_binary(attachment):
    """Return the bytes of a large non-text (base64-encoded) attachment, else None."""
    if not hasattr(attachment, "_replace"):  # a MIME part given to attach(): as it is
        return None
    _name, content, mimetype = attachment
    if not isinstance(content, bytes) or len(content) < LARGE:
        return None
    if not mimetype or mimetype.split("/")[0] in ("text", "message", "multipart"):
        return None  # Django may encode these otherwise (8bit, quoted-printable, nested)
    return content


def _splice(data, swaps):
    parts = []
    position = 0
    for line, content in swaps:
        start = data.index(line, position)
        end = start + len(line)
        linesep = b"\r\n" if data[end:end + 2] == b"\r\n" else b"\n"
        parts.append(data[position:start])
        encoded = base64.encodebytes(content)  # 76-character lines, as the email package
        parts.append(encoded[:-1].replace(b"\n", linesep) if linesep != b"\n" else encoded[:-1])
        position = end
    parts.append(data[position:])
    return b"".join(parts)
