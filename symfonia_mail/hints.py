"""Problem codes and the plain-language hint for each: the one table of them.

Codes are stable identifiers (``connection_refused``, ``oauth_consent_required``…);
the hints are lazy translations, shown in the reader's language. Exceptions, the
mail log, Test SMTP and the admin all take their words from here.
"""

from django.utils.translation import gettext_lazy as _

MICROSOFT_OAUTH_HELP = (
    "https://learn.microsoft.com/exchange/client-developer/legacy-protocols/"
    "how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth"
)
GOOGLE_OAUTH_HELP = "https://developers.google.com/gmail/imap/xoauth2-protocol"

OAUTH_CODES = {
    "oauth_not_connected": _(
        "No account is connected. Save the configuration and press “Connect Microsoft "
        "account” or “Connect Google account”, then sign in as the mailbox's user "
        "(for Microsoft 365 you can enter a client secret for unattended sign-in instead)."
    ),
    "oauth_grant_revoked": _(
        "The stored sign-in is no longer valid: it was revoked, expired after a long time "
        "unused, or the account's password changed. Press “Connect” again and sign in "
        "as the mailbox's user."
    ),
    "oauth_secret_expired": _(
        "The client secret of the application has expired. Create a new client secret "
        "for the application (Microsoft Entra admin center > App registrations > "
        "Certificates & secrets) and enter it here."
    ),
    "oauth_client_invalid": _(
        "The identity platform refused the application's credentials: check the client "
        "ID and the client secret (enter the secret's value, not its ID)."
    ),
    "oauth_app_not_found": _(
        "No application with this client ID exists in this directory: check the client ID "
        "and the directory (tenant)."
    ),
    "oauth_consent_required": _(
        "The application has no consent for this permission yet. An administrator must "
        "grant consent: for unattended sign-in add the API permission “SMTP.SendAsApp” "
        "(Office 365 Exchange Online) and press “Grant admin consent”; for a connected "
        "account sign in again and accept."
    ),
    "oauth_tenant_not_found": _(
        "The Microsoft directory (tenant) was not found. Enter the directory (tenant) ID "
        "shown on the application's overview page, or your domain such as "
        "firma.onmicrosoft.com."
    ),
    "oauth_conditional_access": _(
        "The organisation's sign-in policy (multi-factor authentication or conditional "
        "access) blocked the sign-in. Connect the account again, or ask the administrator "
        "to allow this application."
    ),
    "oauth_unreachable": _(
        "The identity platform could not be reached. Check this server's internet "
        "connection, proxy and firewall (HTTPS to the sign-in service)."
    ),
    "oauth_unreadable_secret": _(
        "The stored client secret or sign-in cannot be decrypted with the current "
        "FIELD_ENCRYPTION_KEY. Restore the key it was saved with, or enter the client "
        "secret again and connect the account again."
    ),
    "oauth_error": _("The identity platform refused to issue an access token."),
    "oauth_login_refused": _(
        "The mail server refused the OAuth2 login although the token was issued. For "
        "Microsoft 365: turn on “Authenticated SMTP” for the mailbox; for unattended "
        "sign-in also register the application in Exchange Online "
        "(New-ServicePrincipal) and give it access to the mailbox (Add-MailboxPermission). "
        "For Google: the user name must be the connected account's address."
    ),
    "oauth_not_offered": _(
        "The server does not offer OAuth2 login (XOAUTH2). Use smtp.office365.com "
        "(Microsoft 365) or smtp.gmail.com (Google), port 587 with STARTTLS."
    ),
}

OAUTH_HELP_URLS = {
    "oauth_login_refused": MICROSOFT_OAUTH_HELP,
    "oauth_consent_required": MICROSOFT_OAUTH_HELP,
}

GMAIL_HELP = "https://support.google.com/accounts/answer/185833"
MICROSOFT_HELP = (
    "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
    "authenticated-client-smtp-submission"
)

# Stable problem codes and their plain-language hints.
CODES = {
    "configuration_incomplete": _(
        "The configuration is incomplete: enter the SMTP server and the sender address."
    ),
    "unreadable_password": _(
        "The stored password cannot be decrypted with the current FIELD_ENCRYPTION_KEY. "
        "Restore the key it was saved with or enter the password again."
    ),
    "connection_refused": _(
        "Nothing accepts connections on this server and port. Check the server name and "
        "the port (587 for STARTTLS, 465 for SSL/TLS, 25 for unencrypted) and whether a "
        "firewall blocks it."
    ),
    "dns_not_found": _(
        "The server name was not found in DNS. Check its spelling, e.g. smtp.example.com."
    ),
    "network_error": _(
        "The server cannot be reached over the network. Check the server name, the "
        "port and the network or firewall of this computer."
    ),
    "connect_timeout": _(
        "The server did not accept the connection in time. Check the server name, the "
        "port and whether a firewall drops the connection."
    ),
    "timeout": _(
        "The server did not answer within the response timeout. A port that expects "
        "SSL/TLS from the start (usually 465) stays silent for a plain or STARTTLS "
        "connection: check the security setting. A slow server needs a longer timeout."
    ),
    "tls_mismatch": _(
        "The connection security does not match the port: SSL/TLS from the start on a "
        "port that expects plain text or STARTTLS, or the other way round. Use STARTTLS "
        "for port 587 (or 25) and SSL/TLS for port 465."
    ),
    "tls_error": _(
        "The encrypted connection could not be set up. Check the connection security "
        "setting and the port."
    ),
    "certificate_not_trusted": _(
        "The server's certificate is not trusted (self-signed, issued by an unknown "
        "authority, or for another name). Use the name the certificate was issued for; "
        "for a server signed by your company's own certificate authority, paste that "
        "authority's certificate into “trusted CA certificates (PEM)” of this mail "
        "configuration (every program that sends through it then trusts it); only as a "
        "last resort, for an internal server, turn off certificate verification."
    ),
    "starttls_not_offered": _(
        "The server does not offer STARTTLS on this port, and the message will not be "
        "sent unencrypted. Use the port for STARTTLS (usually 587) or SSL/TLS (465)."
    ),
    "tls_required": _(
        "The server requires an encrypted connection. Choose STARTTLS (port 587) or "
        "SSL/TLS (port 465)."
    ),
    "auth_not_offered": _(
        "The server does not offer login (SMTP AUTH) on this connection. Many servers "
        "offer it only after STARTTLS or on port 587; or leave the user name empty if "
        "this server needs no login."
    ),
    "auth_mechanism_unsupported": _(
        "The server offers no password login method this application supports "
        "(PLAIN, LOGIN or CRAM-MD5); it may accept only OAuth."
    ),
    "auth_required": _(
        "The server requires a login before it accepts mail: enter the user name and "
        "the password."
    ),
    "login_refused": _(
        "The server refused the user name or password. Check both. Accounts with "
        "two-step verification (e.g. Gmail, Microsoft 365) need an app password."
    ),
    "app_password_required": _(
        "The account uses two-step verification, which password login over SMTP does "
        "not support. Create an app password for this mailbox and enter it as the password."
    ),
    "app_password_required_gmail": _(
        "Gmail refused the normal password because the account uses two-step "
        "verification, which password login over SMTP does not support. Create an app "
        "password (Google Account > Security > App passwords) and enter it as the "
        "password. Help: https://support.google.com/accounts/answer/185833"
    ),
    "app_password_required_microsoft": _(
        "Microsoft 365 refused the password login. If the password is right, basic "
        "authentication (user name and password) is disabled for this mailbox or "
        "organisation, or the account uses two-step verification, which password login "
        "does not support. Choose the sign-in method “Microsoft 365 (OAuth2)” (Microsoft "
        "turns password sign-in for SMTP off by default at the end of December 2026), or "
        "ask the "
        "administrator to enable authenticated SMTP for the mailbox. Help: "
        "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
        "authenticated-client-smtp-submission"
    ),
    "sender_refused": _(
        "The server refused the sender address. Use an address of the mailbox you log "
        "in with (or one it may send as)."
    ),
    "recipient_refused": _(
        "The server refused a recipient. Check the sender, CC and BCC addresses; a "
        "server that refuses to relay usually needs a login."
    ),
    "message_refused": _("The server refused the message itself after its content was sent."),
    "greeting_refused": _("The server answered the connection with a refusal."),
    "disconnected": _(
        "The server closed the connection unexpectedly. Check the port and the "
        "connection security."
    ),
    "smtp_error": _("The server answered with an error."),
    "non_ascii_text": _(
        "The user name, the password or an address contains characters outside ASCII "
        "(e.g. Polish letters) that could not be sent to the server. Use an app password "
        "or a password without such letters, and addresses the server accepts."
    ),
    "not_smtp": _(
        "This service did not answer like an SMTP server. Check the server name and "
        "the port."
    ),
    "rate_limited": _(
        "Test SMTP was run too often in the last hour. Wait a while and try again."
    ),
    "server_not_allowed": _(
        "This server is not on the list of servers allowed for mail configurations "
        "(ALLOWED_SERVERS in the site settings). Ask the site administrator."
    ),
    "dsn_not_offered": _(
        "The server does not advertise delivery status notifications (DSN): messages "
        "go out without them."
    ),
    "plaintext_login": _(
        "The password is sent unencrypted. Choose STARTTLS or SSL/TLS if the server "
        "supports it."
    ),
    "imap_login_refused": _(
        "The IMAP server refused the login. Check the IMAP user name and password (empty: "
        "the SMTP ones are used); Microsoft 365 and Gmail need IMAP switched on for the "
        "mailbox, and OAuth2 sign-ins the IMAP permission."
    ),
    "imap_folder_missing": _(
        "The delivery reports folder does not exist in this mailbox. Enter the name of the "
        "folder where reports arrive (usually INBOX)."
    ),
    "imap_sent_missing": _(
        "No Sent folder was found (none is marked as Sent, none has a usual name): enter "
        "its name in the configuration, or sent messages are not filed."
    ),
    "imap_error": _("The IMAP server answered with an error."),
}

# The mailbox APIs (mailapi/errors.py): what Microsoft Graph or the Gmail API answered.
API_CODES = {
    "api_unreachable": _(
        "The mailbox API cannot be reached over the network. Check this computer's "
        "connection to the Internet (or its proxy); the message is tried again later."
    ),
    "api_no_answer": _(
        "The mailbox API did not answer in time after the message was sent: it may or may "
        "not have been sent. Check the mailbox's Sent folder before sending it again."
    ),
    "api_token_refused": _(
        "The mailbox API refused the access token, also a freshly obtained one. Check that "
        "the application's sign-in is for this service and the right directory, then "
        "connect the account again."
    ),
    "api_graph_permission_missing": _(
        "The sign-in carries no Microsoft Graph permission named above. When the application "
        "is restricted with RBAC for Applications, assign it the Exchange role “Application "
        "Mail.Send” (and “Application Mail.ReadWrite” for messages over 4 MB) with a scope "
        "that includes this mailbox; otherwise add the permission in Microsoft Entra ID > "
        "App registrations > API permissions > Microsoft Graph and press “Grant admin "
        "consent”."
    ),
    "api_mailbox_out_of_scope": _(
        "The application has the permission but may not use it for this mailbox: an "
        "Exchange Online restriction excludes it (the management scope of an RBAC for "
        "Applications role assignment, or a legacy application access policy). Add the "
        "mailbox to that scope or use a mailbox inside it."
    ),
    "api_gmail_scope_missing": _(
        "The Google sign-in does not include permission to send mail (the gmail.send "
        "scope). Add https://www.googleapis.com/auth/gmail.send to the OAuth consent "
        "screen (and to domain-wide delegation, if used) and connect the account again."
    ),
    "api_access_denied": _(
        "The mailbox API refused access. Check the application's permissions and that the "
        "API is enabled for it (Google Cloud: Gmail API)."
    ),
    "api_send_as_denied": _(
        "The mailbox may not send as the sender address. Use the mailbox's own address as "
        "the sender, or give the mailbox Send As permission for that address in Exchange."
    ),
    "api_mailbox_not_found": _(
        "The mailbox does not exist in this directory. Check the user name: it must be the "
        "mailbox's address (user principal name)."
    ),
    "api_too_large": _(
        "The message is larger than the mailbox API accepts (Microsoft 365: 150 MB, the "
        "mailbox's own limit may be lower; Gmail: 35 MB). Send smaller attachments or a link."
    ),
    "api_throttled": _(
        "The mailbox API asked to slow down (too many requests). The message is tried "
        "again after the wait it asked for; lower “messages per minute” if it keeps "
        "happening."
    ),
    "api_unavailable": _(
        "The mailbox API is temporarily unavailable. The message is tried again later."
    ),
    "api_message_refused": _(
        "The mailbox API refused the message as invalid (its headers or addresses)."
    ),
    "api_error": _("The mailbox API answered with an error."),
}

CODES.update(OAUTH_CODES)
CODES.update(API_CODES)

HELP_URLS = {
    "app_password_required_gmail": GMAIL_HELP,
    "app_password_required_microsoft": MICROSOFT_HELP,
    **OAUTH_HELP_URLS,
}
