"""SYMFONIA_MAIL["ALLOWED_SERVERS"]: the SMTP servers non-superusers may configure.

Patterns are shell-style host patterns (``fnmatch``, case-insensitive) with an
optional ``:port``: ``smtp.office365.com:587``, ``*.firma.pl``. ``None`` (the
default) allows every server. The rule applies to configurations that a
non-superuser edits (the admin form), tests (Test SMTP) or owns (their
individual configuration, checked again when sending). Connection arguments
the host project passes itself (``get_connection(host=...)``) are its own
choice and are not checked.
"""

from fnmatch import fnmatchcase

from .. import conf
from ..exceptions import ServerNotAllowed


def _split(pattern):
    host, sep, port = pattern.strip().rpartition(":")
    if sep and port.isdigit() and ":" not in host.strip("[]"):
        return host.strip("[]"), int(port)
    return pattern.strip().strip("[]"), None


def server_allowed(host, port):
    """Return whether *host*:*port* matches SYMFONIA_MAIL["ALLOWED_SERVERS"]."""
    patterns = conf.get("ALLOWED_SERVERS")
    if patterns is None:
        return True
    if isinstance(patterns, str):
        patterns = [patterns]
    name = (host or "").strip().lower().rstrip(".")
    for pattern in patterns:
        pattern_host, pattern_port = _split(pattern.lower())
        if fnmatchcase(name, pattern_host.rstrip(".")) and pattern_port in (None, int(port)):
            return True
    return False


def is_restricted(user):
    """Return whether *user* (who edits, tests or owns a configuration) is restricted."""
    return user is not None and not getattr(user, "is_superuser", False)


def check_server(config):
    """Raise ServerNotAllowed unless the server of *config* is allowed."""
    if config.host and not server_allowed(config.host, config.port):
        raise ServerNotAllowed(config.server)
