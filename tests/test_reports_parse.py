"""parse_report on hand-made reports: kinds, fields, and bad input (no crash, no false bounce)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from symfonia_mail.reports import RecipientReport, Report, parse_report

from .reports_samples import complaint, dsn, vacation


def test_a_dsn_gives_each_recipient_with_action_status_and_diagnostic():
    report = parse_report(dsn("ab12", [("a@example.com", "failed", "5.1.1"),
                                       ("b@example.com", "delayed", "4.4.7")]))
    assert isinstance(report, Report) and report.kind == "dsn"
    assert report.envelope_id == "ab12"
    assert report.original_message_id == "<msg-1@nadawca.example>"
    first, second = report.recipients
    assert isinstance(first, RecipientReport)
    assert (first.address, first.action, first.status) == ("a@example.com", "failed", "5.1.1")
    assert "Recipient address rejected" in first.diagnostic
    assert first.remote_mta == "mx.odbiorca.example"
    assert (second.action, second.status) == ("delayed", "4.4.7")


def test_the_original_recipient_is_the_address_we_sent_to():
    data = dsn("e1").replace(b"Final-Recipient: rfc822; odbiorca@example.com",
                             b"Final-Recipient: rfc822; alias-target@inny.example")
    [recipient] = parse_report(data).recipients
    assert recipient.address == "odbiorca@example.com"


@pytest.mark.parametrize(("written", "action"), [
    ("failure", "failed"), ("error", "failed"), ("Failed", "failed"), ("delayed", "delayed"),
    ("delivered", "delivered"), ("relayed", "relayed"), ("expanded", "expanded"),
])
def test_actions_including_the_non_standard_words(written, action):
    [recipient] = parse_report(dsn("e", [("a@example.com", written, "5.0.0"
                                          if action == "failed" else "2.0.0")])).recipients
    assert recipient.action == action


def test_delayed_is_never_failed_even_with_a_permanent_looking_code():
    [recipient] = parse_report(dsn("e", [("a@example.com", "delayed", "5.1.1")])).recipients
    assert recipient.action == "delayed" and recipient.status == ""


def test_rfc_6533_global_delivery_status_with_a_utf8_address():
    data = dsn("e2", [("józef@przykład.pl", "failed", "5.1.1")],
               content_type="message/global-delivery-status")
    data = data.replace(b"rfc822; j", b"utf-8; j").replace(b"rfc822;j", b"utf-8;j")
    report = parse_report(data)
    assert report.kind == "dsn" and report.envelope_id == "e2"
    assert [(r.address, r.action) for r in report.recipients] == [("józef@przykład.pl", "failed")]


def test_returned_headers_give_every_message_id_candidate():
    data = dsn(headers="X-Microsoft-Original-Message-ID: <ours@nadawca.example>\n",
               message_id="<exchange-made@outlook.example>")
    report = parse_report(data)
    assert report.message_ids == ("<exchange-made@outlook.example>", "<ours@nadawca.example>")


def test_a_returned_full_message_gives_its_message_id():
    returned = ("Content-Type: message/rfc822\n\nFrom: biuro@nadawca.example\n"
                "Message-ID: <full@nadawca.example>\nX-Original-Message-ID: <orig@x>\n\nBody")
    report = parse_report(dsn(returned=returned))
    assert report.message_ids == ("<full@nadawca.example>", "<orig@x>")


def test_a_vacation_reply_is_an_autoreply_never_a_bounce():
    report = parse_report(vacation())
    assert report.kind == "autoreply" and report.recipients == []
    assert report.references == ("<msg-1@nadawca.example>", "<msg-1@nadawca.example>")


def test_a_vacation_reply_quoting_a_failure_is_still_an_autoreply():
    # listmonk #1334: vacation replies counted as bounces.
    body = ("I am on vacation. Mail to <old@example.com> failed: user unknown.\n"
            "550 5.1.1 <old@example.com>: Recipient address rejected: User unknown\n")
    report = parse_report(vacation(subject="Automatic reply: Faktura", body=body))
    assert report.kind == "autoreply" and not report.recipients


def test_a_bounce_with_auto_submitted_is_a_bounce():
    # Postfix and Exim put Auto-Submitted: auto-replied on their bounces.
    report = parse_report(dsn("e3"))
    assert report.kind == "dsn" and report.recipients[0].action == "failed"


def test_an_arf_report_is_a_complaint():
    report = parse_report(complaint())
    assert report.kind == "complaint"
    assert [(r.address, r.action) for r in report.recipients] == [
        ("odbiorca@example.com", "complained")]
    assert report.original_message_id == "<msg-1@nadawca.example>"


def test_an_ordinary_message_is_no_report():
    data = (b"From: klient@example.com\r\nTo: biuro@nadawca.example\r\nSubject: Re: Faktura\r\n"
            b"In-Reply-To: <msg-1@nadawca.example>\r\n\r\nDzi\xc4\x99kuj\xc4\x99, "
            b"user unknown 550 w poprzednim mailu.\r\n")
    assert parse_report(data) is None


def test_a_person_quoting_a_bounce_is_no_bounce():
    data = (b"From: Anna Nowak <anna@nadawca.example>\r\nTo: biuro@nadawca.example\r\n"
            b"Subject: Fwd: problem z mailem\r\n\r\nZobacz:\r\n\r\n"
            b"Hi. This is the qmail-send program at mx.example.com.\r\n"
            b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
            b"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
            b"<odbiorca@example.com>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n")
    assert parse_report(data) is None
    # The same text from the mail system is a bounce.
    report = parse_report(data.replace(b"Anna Nowak <anna@nadawca.example>",
                                       b"MAILER-DAEMON@mx.example.com"))
    assert [(r.address, r.action) for r in report.recipients] == [
        ("odbiorca@example.com", "failed")]


def test_the_report_date_is_kept():
    when = timezone.now() - timedelta(days=2)
    report = parse_report(dsn("e4", date=when))
    assert abs(report.recipients[0].reported_at - when) < timedelta(seconds=1)


# Bad input: each is read within bounds, without an exception, and never invents a bounce.

def test_a_report_truncated_inside_the_status_part_records_no_failure():
    data = dsn("e5")
    cut = data[: data.index(b"Action: failed")]
    report = parse_report(cut)
    assert report is None or not [r for r in report.recipients if r.action == "failed"]


def test_a_report_truncated_after_the_status_part_keeps_what_it_read():
    data = dsn("e6")
    report = parse_report(data[: data.index(b"Subject: Faktura")])
    assert report.kind == "dsn" and report.recipients[0].action == "failed"


def test_a_huge_report_is_cut_and_read_in_bounded_time():
    data = dsn("e7", returned="Content-Type: message/rfc822\n\nMessage-ID: <big@x>\n\n"
               + "A" * 80 + ("\n" + "B" * 76) * 300_000)
    began = time.perf_counter()
    report = parse_report(data)
    elapsed = time.perf_counter() - began
    assert report.kind == "dsn" and report.truncated and report.envelope_id == "e7"
    assert elapsed < 5, elapsed


def test_a_deeply_nested_message_is_no_crash_and_no_bounce():
    depth = 3000
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n'
                   for i in range(depth))
    data = ("From: MAILER-DAEMON@x\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
            + head + "Content-Type: text/plain\n\nuser unknown <a@example.com>\n").encode()
    began = time.perf_counter()
    report = parse_report(data)
    assert time.perf_counter() - began < 10
    assert report is None or report.recipients == [] or report.kind == "bounce"


def test_many_parts_are_capped():
    parts = "".join("--B\nContent-Type: text/plain\n\nx\n" for _ in range(20_000))
    data = ("From: MAILER-DAEMON@x\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
            'Content-Type: multipart/mixed; boundary="B"\n\n' + parts + "--B--\n").encode()
    began = time.perf_counter()
    parse_report(data)
    assert time.perf_counter() - began < 10


@pytest.mark.parametrize("mangle", [
    lambda d: d.replace(b"Content-Type: text/plain", b"Content-Type: text/plain; charset=x-nope"),
    lambda d: d.replace(b"Subject: Undelivered", b"Subject: =?x-bad?B?////?= Undelivered"),
    lambda d: d.replace(b"Your message", b"\xff\xfe\x00\x81 Your message"),
    lambda d: d.replace(b"Content-Type: text/rfc822-headers",
                        b"Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: base64"),
    lambda d: d.replace(b'boundary="B"', b'boundary="'),
    lambda d: d.replace(b"Status: 5.1.1", b"Status: \x00\xff"),
    lambda d: d.replace(b"Final-Recipient: rfc822; odbiorca@example.com",
                        b"Final-Recipient: rfc822; " + b"<" * 5000),
])
def test_bad_encodings_are_no_crash(mangle):
    report = parse_report(mangle(dsn("e8")))
    assert report is None or isinstance(report, Report)


def test_garbage_is_no_report():
    assert parse_report(b"\x00\xff" * 1000) is None
    assert parse_report(b"") is None


def test_likely_report_from_the_headers_alone():
    from symfonia_mail.reports import likely_report

    def headers(data):
        return data.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in data else data.split(b"\n\n")[0]

    assert likely_report(headers(dsn("e9")))
    assert likely_report(headers(complaint()))
    assert not likely_report(headers(vacation()))
    assert not likely_report(b"From: klient@example.com\r\nSubject: Re: Faktura\r\n")
