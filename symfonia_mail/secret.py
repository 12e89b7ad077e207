"""Secrets that stay out of reprs, tracebacks and logs, and a scrubber for echoed text.

Django's error reports print every local variable of every frame, and it turns
``sensitive_variables`` off when ``DEBUG = True`` (``SafeExceptionReporterFilter.
is_active()`` returns ``not settings.DEBUG``). So a password must never sit in a
local as a plain ``str``: it travels as a :class:`Secret`, whose repr is masked,
and is revealed only in the expression that hands it to the socket (or to the
PDF/ZIP library).
"""

import base64

MASK = "********"


class Secret:
    """A string that never shows itself: ``repr``/``str`` are masked."""

    __slots__ = ("_value",)

    def __init__(self, value=""):
        if isinstance(value, Secret):
            value = value.reveal()
        object.__setattr__(self, "_value", value or "")

    def reveal(self):
        """Return the plain value (only where it goes to the wire or a library)."""
        return self._value

    def map(self, function):
        """Return a new Secret holding ``function(value)`` (e.g. an AUTH encoding)."""
        return Secret(function(self._value))

    def __bool__(self):
        return bool(self._value)

    def __len__(self):
        return len(self._value)

    def __eq__(self, other):
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self):
        return hash((Secret, self._value))

    def __setattr__(self, name, value):
        raise AttributeError("Secret is immutable")

    def __reduce__(self):
        # Pickling (caches, task queues) would write the plain value somewhere.
        raise TypeError("a Secret cannot be pickled")

    def __repr__(self):
        return f"Secret({MASK!r})" if self._value else "Secret('')"

    __str__ = __repr__


def reveal(value):
    """Return the plain text of a Secret or str (None -> "")."""
    if isinstance(value, Secret):
        return value.reveal()
    return value or ""


def b64(text):
    """Return the base64 (ASCII) of *text* encoded as UTF-8."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class Scrubber:
    """Blank secrets, and the forms a server may echo, out of text.

    Forms: the secret itself, its base64 (AUTH LOGIN), and the AUTH PLAIN
    strings ``\\0user\\0secret`` / ``user\\0secret`` in base64.
    """

    __slots__ = ("_forms",)

    def __init__(self, *secrets, username=""):
        forms = set()
        for secret in secrets:
            plain = reveal(secret)
            if len(plain) < 3:  # blanking "a" everywhere would garble every reply
                continue
            forms.add(plain)
            for raw in (plain, f"\0{username}\0{plain}", f"{username}\0{plain}"):
                encoded = b64(raw)
                forms.add(encoded)
                forms.add(encoded.rstrip("="))
        self._forms = tuple(sorted(forms, key=len, reverse=True))

    def __call__(self, text):
        """Return *text* (str or bytes) as str with every secret form masked."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = str(text)
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def __bool__(self):
        return bool(self._forms)

    def __repr__(self):
        return f"<Scrubber of {len(self._forms)} form(s)>"


NO_SCRUB = Scrubber()
