"""What happened to each message: the MailLog rows and log lines."""
