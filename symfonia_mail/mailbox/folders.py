"""IMAP folder names: modified UTF-7 (RFC 3501 §5.1.3), LIST answers, the Sent folder."""

import base64
import re
from dataclasses import dataclass

# Names servers give the Sent folder when it carries no \Sent special-use flag
# (RFC 6154): English, Outlook/Exchange, Courier/Maildir++, Gmail, Polish Outlook.
SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "INBOX.Sent", "INBOX/Sent",
              "[Gmail]/Sent Mail", "Wysłane", "Elementy wysłane")

LIST_LINE = re.compile(
    rb'\((?P<flags>[^)]*)\)\s+(?P<sep>NIL|"(?:\\.|[^"\\])*")\s+(?P<name>.*)$', re.I)


@dataclass(frozen=True)
class Folder:
    """One folder of a LIST answer: its (decoded) name and flags."""

    name: str
    flags: frozenset

    @property
    def selectable(self):
        return "\\noselect" not in self.flags and "\\nonexistent" not in self.flags


def encode(name):
    """Return *name* in IMAP's modified UTF-7, as bytes."""
    out, pending = [], []

    def flush():
        if pending:
            chunk = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(chunk).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out).encode("ascii")


def decode(raw):
    """Return the text of a modified UTF-7 folder name (bytes or str)."""
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw

    def shifted(match):
        body = match.group(1)
        if not body:
            return "&"
        data = body.replace(",", "/")
        data += "=" * (-len(data) % 4)
        try:
            return base64.b64decode(data).decode("utf-16-be")
        except ValueError:
            return match.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", shifted, text)


def quoted(name):
    """Return *name* as an IMAP quoted string argument (modified UTF-7 inside)."""
    raw = encode(name).replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + raw + b'"'


def parse_list(data):
    """Return the Folders of an imaplib LIST answer (lines, or (line, literal) pairs)."""
    folders = []
    for item in data:
        if item is None:
            continue
        literal = None
        if isinstance(item, tuple):  # a name sent as a literal: (b'(...) "/" {11}', b'name')
            item, literal = item[0], item[1]
        match = LIST_LINE.match(item.strip())
        if match is None:
            continue
        raw = literal if literal is not None else match.group("name").strip()
        if raw.startswith(b'"') and raw.endswith(b'"'):
            raw = re.sub(rb"\\(.)", rb"\1", raw[1:-1])
        flags = frozenset(flag.lower() for flag in match.group("flags").decode(
            "ascii", "replace").split())
        folders.append(Folder(decode(raw), flags))
    return folders


def sent_folder(folders):
    """Return the name of the Sent folder among *folders*, or None.

    The \\Sent special-use flag first (RFC 6154); else the first of the usual
    names, compared without case.
    """
    for folder in folders:
        if "\\sent" in folder.flags and folder.selectable:
            return folder.name
    by_name = {folder.name.casefold(): folder.name for folder in folders if folder.selectable}
    for name in SENT_NAMES:
        if name.casefold() in by_name:
            return by_name[name.casefold()]
    return None
