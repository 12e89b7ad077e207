"""The mailbox side over IMAP: delivery reports read back, the Sent copy, Test SMTP's IMAP steps."""
