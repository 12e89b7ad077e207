"""Trusted CA certificates (PEM) of a configuration: check, describe, trust.

A server signed by a company's own certificate authority (internal Exchange
or Postfix) is verified against that authority's certificate, stored with
the configuration, instead of the system store; switching verification off
is never needed for it.
"""

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

from django.utils.translation import gettext_lazy as _

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class CertificateInfo:
    """What an administrator needs to recognise a certificate."""

    subject: str
    issuer: str
    not_after: datetime  # aware, UTC
    is_ca: bool

    @property
    def expired(self):
        return self.not_after <= datetime.now(UTC)


def parse(pem):
    """Return CertificateInfo for each certificate in *pem*; raise ValueError when unreadable."""
    from cryptography import x509

    text = (pem or "").strip()
    if not text:
        return []
    if PEM_BEGIN not in text:
        raise ValueError("no PEM certificate")
    certificates = x509.load_pem_x509_certificates(text.encode("ascii", "replace"))
    result = []
    for certificate in certificates:
        try:
            is_ca = certificate.extensions.get_extension_for_class(
                x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        result.append(CertificateInfo(
            subject=certificate.subject.rfc4514_string(),
            issuer=certificate.issuer.rfc4514_string(),
            not_after=certificate.not_valid_after_utc,
            is_ca=is_ca,
        ))
    return result


def fingerprint(pem):
    """Return the DER bytes of each certificate in *pem* (a tuple), or None when unreadable.

    Two texts with the same fingerprint trust the same certificates, whatever their line
    endings, surrounding whitespace or the openssl "Bag Attributes" lines around the blocks.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    if not (pem or "").strip():
        return ()
    try:
        loaded = x509.load_pem_x509_certificates(_pem_only(pem).encode("ascii", "replace"))
    except ValueError:
        return None
    return tuple(certificate.public_bytes(Encoding.DER) for certificate in loaded)


def problem(pem):
    """Return why *pem* cannot be trusted (a lazy message), or None when it is fine or empty."""
    if not (pem or "").strip():
        return None
    try:
        certificates = parse(pem)
        ssl.create_default_context(cadata=_pem_only(pem))  # what sending will do
    except (ValueError, ssl.SSLError):
        return _("Paste one or more certificates in PEM format: blocks that start with "
                 "-----BEGIN CERTIFICATE----- and end with -----END CERTIFICATE-----.")
    expired = [info for info in certificates if info.expired]
    if expired:
        return _("The certificate %(subject)s expired on %(date)s; paste the current one.") % {
            "subject": expired[0].subject, "date": f"{expired[0].not_after:%Y-%m-%d}"}
    return None


def pem_only(pem):
    """Return the certificate blocks of *pem* alone (what a CA file may hold)."""
    return _pem_only(pem)


def _pem_only(pem):
    # ssl refuses text around the blocks ("Bag Attributes" lines of an openssl export).
    lines, inside = [], False
    for line in pem.strip().splitlines():
        line = line.strip()
        if line == PEM_BEGIN:
            inside = True
        if inside:
            lines.append(line)
        if line == "-----END CERTIFICATE-----":
            inside = False
    return "\n".join(lines) + "\n"


def context(pem):
    """Return a client TLS context that trusts only the certificates in *pem*."""
    return ssl.create_default_context(cadata=_pem_only(pem))
