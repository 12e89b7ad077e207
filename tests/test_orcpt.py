"""ORCPT (RFC 3461 §4.2): every RCPT TO with NOTIFY also names the original address.

Checked on the wire against the loopback aiosmtpd server that records each
recipient's parameters (the Postfix tests show the reports that name it).
"""

import smtplib

import pytest
from django.core.mail import EmailMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from symfonia_mail.smtp.dialogue import _PLAIN_ADDRESS_RE, _command, orcpt_option

from .conftest import save_global

pytestmark = pytest.mark.django_db


def test_orcpt_is_xtext_encoded():
    # RFC 3461 §4: "+", "=" and anything outside "!".."~" are written as "+HH".
    assert orcpt_option("jan@firma.example") == "ORCPT=rfc822;jan@firma.example"
    assert orcpt_option("jan+faktury@firma.example") == "ORCPT=rfc822;jan+2Bfaktury@firma.example"
    assert orcpt_option("a=b@firma.example") == "ORCPT=rfc822;a+3Db@firma.example"


def _xtext_byte_by_byte(address):
    return "ORCPT=rfc822;" + "".join(
        chr(byte) if 0x21 <= byte <= 0x7E and byte not in b"+=" else f"+{byte:02X}"
        for byte in address.encode("utf-8"))


# Addresses as they come: plain ones, and every character that needs care.
ADDRESSES = st.from_regex(_PLAIN_ADDRESS_RE, fullmatch=True) | st.text(
    alphabet=st.sampled_from(list('aZ09._+-=@<>" ()!#,;:\\[]ąé\t')), max_size=24)


@settings(max_examples=500, deadline=None)
@given(ADDRESSES)
def test_the_fast_paths_write_what_the_full_encoders_write(address):
    # Plain addresses skip xtext's byte loop and smtplib.quoteaddr's parsing: same text.
    assert orcpt_option(address) == _xtext_byte_by_byte(address)
    if address.strip() != "<>":
        assert _command("RCPT TO:", address, ()) == f"RCPT TO:{smtplib.quoteaddr(address)}"


def test_each_recipient_carries_its_own_orcpt(smtp_server):
    save_global(smtp_server, dsn_notify="OnFailure", cc="kopia@firma.example",
               bcc="jan+archiwum@firma.example")
    EmailMessage("s", "b", to=["a@example.com", "b@example.com"]).send()
    [received] = smtp_server.messages
    expected = {
        "a@example.com": "rfc822;a@example.com",
        "b@example.com": "rfc822;b@example.com",
        "kopia@firma.example": "rfc822;kopia@firma.example",
        "jan+archiwum@firma.example": "rfc822;jan+2Barchiwum@firma.example",
    }
    # aiosmtpd upper-cases parameter values (docs/architecture.md).
    assert {rcpt: received.param("ORCPT", rcpt) for rcpt in expected} == {
        rcpt: value.upper() for rcpt, value in expected.items()
    }
    assert all(received.param("NOTIFY", rcpt) == "FAILURE" for rcpt in expected)


@pytest.mark.parametrize("dsn_notify", ["", "None"])
def test_no_orcpt_without_dsn(smtp_server, dsn_notify):
    save_global(smtp_server, dsn_notify=dsn_notify)
    EmailMessage("s", "b", to=["a@example.com"]).send()
    assert smtp_server.messages[0].rcpt_options == {"a@example.com": []}
