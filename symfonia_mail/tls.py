"""Client TLS for a configuration's servers: its trust store, or none when told so.

SMTP, IMAP and the mailbox APIs' clients all build their context here.
"""

import ssl

from . import certificates, conf


def tls_context(verify=True, ca_certificates=""):
    """Return a client TLS context: system trust store, or unverified when told so.

    *ca_certificates* (PEM) are trusted instead of the system store: a
    configuration's own company certificate authority.
    """
    if ca_certificates:
        context = certificates.context(ca_certificates)
    else:
        context = ssl.create_default_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR
    if not verify or not conf.get("VERIFY_CERTIFICATES"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
