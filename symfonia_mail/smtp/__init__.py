"""The SMTP client: the dialogue, the login, one connection per configuration."""
