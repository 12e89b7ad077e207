"""Issue 19 (1): the fields the stored password is tied to compare by meaning, not spelling.

A browser posts a textarea with CRLF, the form strips surrounding whitespace and a PEM may
carry openssl's "Bag Attributes" lines: none of these is another server, so none may ask for
the password again. Every field of PASSWORD_BOUND_TO and OAUTH_BOUND_TO is covered here.
"""

import pytest
import trustme

from symfonia_mail import certificates
from symfonia_mail.admin.forms import MailSettingsForm, bound_value


@pytest.fixture(scope="module")
def ca_pem():
    return trustme.CA(organization_name="Firma Demo CA").cert_pem.bytes().decode()


@pytest.fixture(scope="module")
def other_pem():
    return trustme.CA(organization_name="Someone Else").cert_pem.bytes().decode()


def same(name, stored, posted):
    return bound_value(name, stored) == bound_value(name, posted)


def test_every_bound_field_is_covered_here():
    covered = {"host", "port", "security", "verify_certificate", "ca_certificates",
               "username", "auth_method", "oauth_tenant", "oauth_client_id"}
    assert set(MailSettingsForm.PASSWORD_BOUND_TO) | set(
        MailSettingsForm.OAUTH_BOUND_TO) == covered


def test_host_ignores_case_surrounding_whitespace_and_the_root_dot():
    assert same("host", "smtp.firma.pl", " SMTP.Firma.PL.\r\n")
    assert not same("host", "smtp.firma.pl", "smtp.firma.pl.evil.example")


def test_port_compares_the_number():
    assert same("port", 587, "587")
    assert same("port", 587, 587)
    assert not same("port", 587, 25)


def test_security_and_the_certificate_check_compare_their_values():
    assert same("security", "starttls", "starttls")
    assert not same("security", "starttls", "none")
    assert same("verify_certificate", True, True)
    assert not same("verify_certificate", True, False)


def test_user_name_ignores_line_ends_and_surrounding_whitespace_but_not_case():
    assert same("username", "jan.kowalski", " jan.kowalski\r\n")
    assert not same("username", "jan.kowalski", "Jan.Kowalski")


@pytest.mark.parametrize("name", ["auth_method", "oauth_tenant", "oauth_client_id"])
def test_oauth_fields_ignore_line_ends_and_surrounding_whitespace(name):
    assert same(name, "firma.onmicrosoft.com", "firma.onmicrosoft.com\r\n")
    assert not same(name, "firma.onmicrosoft.com", "inna.onmicrosoft.com")


def test_a_pem_compares_by_its_certificates(ca_pem, other_pem):
    crlf = ca_pem.strip().replace("\n", "\r\n")  # what a browser posts for the demo's PEM
    assert ca_pem.endswith("\n") and not crlf.endswith("\n")
    assert same("ca_certificates", ca_pem, crlf)
    exported = f"Bag Attributes\n    friendlyName: Firma Demo CA\n{ca_pem}"
    assert same("ca_certificates", ca_pem, exported)
    assert not same("ca_certificates", ca_pem, other_pem)
    assert not same("ca_certificates", ca_pem, ca_pem + other_pem)  # one more CA trusted
    assert not same("ca_certificates", ca_pem, "")
    assert same("ca_certificates", "", " \r\n")


def test_unreadable_pem_compares_as_text(ca_pem):
    assert same("ca_certificates", "not a certificate\n", "not a certificate\r\n")
    assert not same("ca_certificates", "not a certificate", "not a certificate either")
    assert certificates.fingerprint("not a certificate") is None
    assert certificates.fingerprint(ca_pem) == certificates.fingerprint(ca_pem.strip())
