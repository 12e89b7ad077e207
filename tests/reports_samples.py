"""Hand-made delivery reports for the tests: DSNs, a vacation reply, a complaint."""

from email.utils import format_datetime

from django.utils import timezone


def dsn(envelope_id="", recipients=(("odbiorca@example.com", "failed", "5.1.1"),),
        message_id="<msg-1@nadawca.example>", headers="", returned=None, date=None,
        content_type="message/delivery-status", extra_headers=""):
    """Return the bytes of an RFC 3464 report; *recipients* are (address, action, status)."""
    date = format_datetime(date or timezone.now())
    per_message = "Reporting-MTA: dns; mx.example.com\n"
    if envelope_id:
        per_message += f"Original-Envelope-Id: {envelope_id}\n"
    per_message += f"Arrival-Date: {date}\n"
    blocks = [per_message]
    for address, action, status in recipients:
        blocks.append(
            f"Final-Recipient: rfc822; {address}\nOriginal-Recipient: rfc822;{address}\n"
            f"Action: {action}\nStatus: {status}\n"
            f"Remote-MTA: dns; mx.odbiorca.example\n"
            f"Diagnostic-Code: smtp; 550 {status} <{address}>: Recipient address rejected\n")
    status_text = "\n".join(blocks)
    if returned is None:
        returned = (f"Content-Type: text/rfc822-headers\n\nFrom: biuro@nadawca.example\n"
                    f"To: odbiorca@example.com\nSubject: Faktura\nMessage-ID: {message_id}\n"
                    f"{headers}")
    return (
        f"From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n"
        f"To: biuro@nadawca.example\nSubject: Undelivered Mail Returned to Sender\n"
        f"Auto-Submitted: auto-replied\nDate: {date}\n{extra_headers}"
        f"MIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        f"--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        f"--B\nContent-Type: {content_type}\n\n{status_text}\n"
        f"--B\n{returned}\n--B--\n"
    ).replace("\n", "\r\n").encode("utf-8")


def vacation(in_reply_to="<msg-1@nadawca.example>", subject="Out of office: Faktura",
             auto_submitted="auto-replied", body="I am away until Monday."):
    """Return the bytes of a vacation auto-reply (RFC 3834)."""
    return (
        f"From: Jan Kowalski <odbiorca@example.com>\nTo: biuro@nadawca.example\n"
        f"Subject: {subject}\nAuto-Submitted: {auto_submitted}\n"
        f"In-Reply-To: {in_reply_to}\nReferences: {in_reply_to}\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    ).encode()


def complaint(message_id="<msg-1@nadawca.example>", recipient="odbiorca@example.com"):
    """Return the bytes of an ARF (RFC 5965) abuse report about our message."""
    return (
        "From: feedback@isp.example\nTo: biuro@nadawca.example\nSubject: FW: Faktura\n"
        'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; '
        'boundary="F"\n\n'
        "--F\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n"
        "--F\nContent-Type: message/feedback-report\n\n"
        f"Feedback-Type: abuse\nUser-Agent: ISP-FBL/1.0\nVersion: 1\n"
        f"Original-Rcpt-To: {recipient}\n\n"
        f"--F\nContent-Type: message/rfc822\n\nFrom: biuro@nadawca.example\n"
        f"To: {recipient}\nSubject: Faktura\nMessage-ID: {message_id}\n\nTreść.\n\n--F--\n"
    ).encode()
