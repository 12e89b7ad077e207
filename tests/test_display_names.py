"""Display names of the sender, CC and BCC arrive intact on Django 5.2, 6.0 and 6.1.

Property tests (hypothesis) over names with quotes, commas, semicolons,
parentheses, angle brackets, ``@`` and Polish letters, sent through a real
aiosmtpd server on 127.0.0.1 and parsed back with ``email.policy.default``.
Run this file with each venv: .venv, .venv-django6.0, .venv-django6.1.
"""

from email import policy

import pytest
from django.core.mail import EmailMessage
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from symfonia_mail.config import resolver
from symfonia_mail.diagnostics.smtp_test import run_smtp_test
from symfonia_mail.models import GlobalMailConfig
from symfonia_mail.validators import display_address

from .conftest import save_global

pytestmark = pytest.mark.django_db

SENDER, CC, BCC = "biuro@firma.example", "kopia@firma.example", "ukryta@firma.example"

# Letters, digits, the RFC 5322 specials, backslash and Polish letters. Whitespace is
# single and inside the name: the admin form strips the ends, and folding a long header
# may turn a run of spaces into one, which no reader sees.
_CHARS = "aZ09ąćęłńóśźżĄŁŻ\"\\,;:.()<>@[]'!#-_"
_WORD = st.text(alphabet=_CHARS, min_size=1, max_size=6)
# Up to 20 characters: one RFC 2047 word even when every letter is Polish (measured: 23
# all-"ł" characters fold into two on 6.1). CPython's parser puts a space between two
# adjacent encoded words of a display name, which a mail client joins (RFC 2047 §6.2):
# longer names would test that parser, not us.
NAMES = st.lists(_WORD, min_size=1, max_size=3).map(" ".join)

RUN = settings(max_examples=30, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def plain_server(make_smtp_server):
    """A plain-text server without AUTH: the header is the point, not the transport."""
    return make_smtp_server(tls=None, dsn=False)


def store(server, name, **overrides):
    save_global(server, security="none", username="", password="", sender_name=name,
                **overrides)
    resolver.clear_cache()


def single(header):
    """Return the one (display name, address) of a parsed address header."""
    addresses = header.addresses
    assert len(addresses) == 1, f"expected one address in {str(header)!r}"
    return addresses[0].display_name, addresses[0].addr_spec


def test_display_address_quotes_only_when_needed():
    assert display_address("Biuro Firma", SENDER) == f"Biuro Firma <{SENDER}>"
    assert display_address("", SENDER) == SENDER
    assert display_address('Biuro, "A"\\B', SENDER) == f'"Biuro, \\"A\\"\\\\B" <{SENDER}>'


@RUN
@given(name=NAMES)
# The names reported in issue 19 (longer than NAMES makes, and one encoded word each).
@example(name="Biuro, księgowość")
@example(name="Ala; ma kota ł")
@example(name="Jan Kowalski (własna skrzynka)")
def test_sender_name_arrives_exactly(plain_server, name):
    store(plain_server, name)
    EmailMessage("Faktura", "Treść", to=["klient@example.com"]).send()
    received = plain_server.messages[-1]
    assert single(received.message["From"]) == (name, SENDER)
    assert received.mail_from == SENDER


@RUN
@given(cc_name=NAMES, bcc_name=NAMES)
def test_cc_and_bcc_names_arrive_exactly(plain_server, cc_name, bcc_name):
    store(plain_server, "Biuro", cc=display_address(cc_name, CC),
          bcc=f"{display_address(bcc_name, BCC)}, druga@firma.example")
    message = EmailMessage("Faktura", "Treść", to=["klient@example.com"])
    message.send()
    received = plain_server.messages[-1]
    assert single(received.message["Cc"]) == (cc_name, CC)
    assert received.message["Bcc"] is None  # BCC never travels in the header
    assert sorted(received.rcpt_tos) == sorted(
        ["klient@example.com", CC, BCC, "druga@firma.example"])
    # The BCC entry handed to Django (what a console backend shows) keeps its name.
    entry = resolver.from_model(GlobalMailConfig.get_solo()).bcc[0]
    assert single(policy.default.header_factory("Bcc", entry)) == (bcc_name, BCC)


@RUN
@given(name=NAMES)
def test_smtp_test_message_carries_the_name(plain_server, name):
    row = GlobalMailConfig(transport="smtp", host=plain_server.host, port=plain_server.port,
                           security="none", timeout_ms=5000, sender_email=SENDER,
                           sender_name=name)
    report = run_smtp_test(resolver.from_model(row), language="en")
    assert report.ok, report.summary()
    assert single(plain_server.messages[-1].message["From"]) == (name, SENDER)
