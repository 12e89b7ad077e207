"""The mailbox APIs' HTTP: one connection pool per process; trust and deadlines per config."""

import hashlib
import os
import tempfile
import threading

from .. import conf
from ..certificates import pem_only
from ..oauth.tokens import verify_setting

_session = None
_session_lock = threading.Lock()
_ca_files: dict[str, str] = {}  # sha256 of a PEM -> the file holding it


def session():
    """Return this process's requests.Session (its pool keeps connections to the APIs)."""
    global _session
    with _session_lock:
        if _session is None:
            import requests
            from requests.adapters import HTTPAdapter

            new = requests.Session()
            # No automatic retries: a POST that reached the API must not be repeated
            # blindly (a second copy of the message); errors.py decides what is temporary.
            new.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=16,
                                              max_retries=0))
            new.mount("http://", HTTPAdapter(max_retries=0))
            _session = new
        return _session


def request(config, method, url, **kwargs):
    """Send one request for *config*: its trusted CAs, its timeout for each wait."""
    kwargs.setdefault("timeout", (config.timeout, config.timeout))
    # Per request, not on the session: a session's verify loses to REQUESTS_CA_BUNDLE
    # from the environment (requests issue #3829).
    kwargs["verify"] = verify_for(config)
    kwargs.setdefault("allow_redirects", False)
    return session().request(method, url, **kwargs)


def verify_for(config):
    """Return requests' ``verify=`` for *config*: its CA list, the system trust, or False."""
    if not config.verify_certificate or not conf.get("VERIFY_CERTIFICATES"):
        return False
    if config.ca_certificates.strip():
        return ca_file(config.ca_certificates)
    return verify_setting()


def ca_file(pem):
    """Return a file holding *pem* (written once per process; requests wants a path)."""
    text = pem_only(pem)
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = _ca_files.get(digest)
    if path is not None and os.path.exists(path):
        return path
    handle, path = tempfile.mkstemp(prefix="symfonia-mail-ca-", suffix=".pem")
    with os.fdopen(handle, "w", encoding="ascii", errors="replace") as out:
        out.write(text)
    _ca_files[digest] = path
    return path
