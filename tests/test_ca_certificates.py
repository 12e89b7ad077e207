"""Issue 12 (3): a configuration's own trusted CA certificates (PEM), instead of the system store.

Real TLS on 127.0.0.1: the server's certificate comes from a private CA that the
process does NOT trust through SSL_CERT_FILE (the suite's tls_ca is a different CA).
"""

import datetime
import ssl

import pytest
import trustme
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation

from symfonia_mail import certificates
from symfonia_mail.config import resolver
from symfonia_mail.diagnostics import smtp_test as diagnostics
from symfonia_mail.models import GlobalMailConfig, MailLog

from .conftest import config_values, save_global
from .test_admin import GLOBAL_URL, form_data, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def company_ca():
    return trustme.CA(organization_name="Firma Demo CA")


@pytest.fixture
def company_server(make_smtp_server, company_ca):
    """STARTTLS + AUTH, its certificate signed by the company CA only."""
    return make_smtp_server(tls="starttls", certificate=company_ca.issue_cert("127.0.0.1"),
                            users={"mailer": "pw-123456"})


def pem(ca):
    return ca.cert_pem.bytes().decode()



def test_without_the_ca_the_server_is_not_trusted(company_server):
    save_global(company_server)
    with pytest.raises(ssl.SSLCertVerificationError):
        send_mail("Faktura", "b", None, ["k@example.com"])
    assert company_server.messages == []


def test_the_configurations_ca_is_trusted_for_sending(company_server, company_ca):
    save_global(company_server, ca_certificates=pem(company_ca))
    assert send_mail("Faktura", "b", None, ["k@example.com"]) == 1
    assert len(company_server.messages) == 1


def test_the_ca_replaces_the_system_store_for_that_configuration(smtp_server, company_ca):
    # smtp_server's certificate comes from the suite's CA, trusted via SSL_CERT_FILE; a
    # configuration that names another CA no longer trusts it.
    save_global(smtp_server, ca_certificates=pem(company_ca))
    with pytest.raises(ssl.SSLCertVerificationError):
        send_mail("Faktura", "b", None, ["k@example.com"])


def test_test_smtp_uses_the_ca(company_server, company_ca):
    config = resolver.from_model(GlobalMailConfig(**config_values(
        company_server, ca_certificates=pem(company_ca))))
    report = diagnostics.run_smtp_test(config)
    assert report.ok, report.summary()
    report = diagnostics.run_smtp_test(resolver.from_model(GlobalMailConfig(
        **config_values(company_server))))
    assert report.code == "certificate_not_trusted"
    with translation.override("en"):
        assert "trusted CA certificates (PEM)" in str(report.hint)


def test_a_second_process_resolves_the_ca_from_the_database(company_server, company_ca):
    save_global(company_server, ca_certificates=pem(company_ca))
    resolver.clear_cache()  # what another process sees: only the database
    assert resolver.resolve().ca_certificates.strip() == pem(company_ca).strip()


@pytest.mark.parametrize("text", ["not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                  "-----END CERTIFICATE-----\n"])
def test_invalid_pem_is_refused_on_save(text, smtp_server):
    config = GlobalMailConfig(**config_values(smtp_server, ca_certificates=text))
    with pytest.raises(ValidationError) as caught:
        config.full_clean()
    assert "ca_certificates" in caught.value.message_dict


def test_an_expired_certificate_is_refused():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Old CA")])
    now = datetime.datetime.now(datetime.UTC)
    old = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
           .public_key(key.public_key()).serial_number(1)
           .not_valid_before(now - datetime.timedelta(days=30))
           .not_valid_after(now - datetime.timedelta(days=1))
           .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
           .sign(key, hashes.SHA256()))
    text = old.public_bytes(serialization.Encoding.PEM).decode()
    with translation.override("en"):
        assert "expired" in str(certificates.problem(text))


def test_admin_shows_subject_and_expiry_and_saves(client, smtp_server, company_ca):
    admin = make_staff("admin", superuser=True)
    config = save_global(smtp_server)
    config.password_set_by = admin
    config.save()
    client.force_login(admin)
    response = client.post(GLOBAL_URL, form_data(config, ca_certificates="garbage",
                                                 password=smtp_server.password, _save="1"),
                           headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert "ca_certificates" in response.context["adminform"].form.errors
    response = client.post(GLOBAL_URL, form_data(config, ca_certificates=pem(company_ca),
                                                 password=smtp_server.password, _save="1"))
    assert response.status_code == 302
    html = client.get(GLOBAL_URL, headers={"Accept-Language": "en"}).content.decode()
    info = certificates.parse(pem(company_ca))[0]
    assert "Firma Demo CA" in html and f"{info.not_after:%Y-%m-%d}" in html
    assert "valid until" in html


def test_changing_the_ca_needs_the_password_again(client, smtp_server, company_ca):
    admin = make_staff("admin", superuser=True)
    config = save_global(smtp_server)
    client.force_login(admin)
    response = client.post(GLOBAL_URL, form_data(config, ca_certificates=pem(company_ca),
                                                 _save="1"))
    assert "password" in response.context["adminform"].form.errors


def test_a_send_failing_on_the_certificate_is_logged_with_a_plain_hint(client, company_server):
    save_global(company_server)
    with pytest.raises(ssl.SSLError):
        send_mail("Faktura", "b", None, ["k@example.com"])
    row = MailLog.objects.get()
    client.force_login(make_staff("admin", superuser=True))
    html = client.get(reverse("admin:symfonia_mail_maillog_change", args=[row.pk]),
                      headers={"Accept-Language": "en"}).content.decode()
    assert "trusted CA certificates (PEM)" in html


def test_the_untouched_form_saves_and_tests_without_the_password_again(client, company_server,
                                                                      company_ca):
    # Issue 19 (1): the demo stores its CA with a trailing newline, a browser posts it back
    # with CRLF and without it; that is the same CA, so the stored password still applies.
    stored_pem = pem(company_ca)
    assert stored_pem.endswith("-----\n")
    config = save_global(company_server, ca_certificates=stored_pem)
    admin = make_staff("admin", superuser=True)
    config.password_set_by = admin
    config.save()
    client.force_login(admin)
    posted = form_data(config, ca_certificates=stored_pem.strip().replace("\n", "\r\n"),
                       auth_method=config.auth_method)
    response = client.post(GLOBAL_URL, {**posted, "_test_smtp": "1"},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert not response.context["adminform"].form.errors
    (message,) = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert message[0] == "success", message
    assert len(company_server.messages) == 1
    response = client.post(GLOBAL_URL, {**posted, "_save": "1"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    stored = GlobalMailConfig.objects.get()
    assert stored.password == company_server.password and stored.password_set_by == admin
    assert "\r" not in stored.ca_certificates  # stored as the demo writes it: LF
    assert certificates.fingerprint(stored.ca_certificates) == certificates.fingerprint(
        stored_pem)
