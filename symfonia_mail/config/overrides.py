"""Explicit connection arguments (``get_connection(host=..., ...)``) over a configuration.

Django's SMTP backend takes ``host``, ``port``, ``username``, ``password``,
``use_tls``, ``use_ssl``, ``timeout``, ``ssl_keyfile`` and ``ssl_certfile``; a
drop-in never ignores them (DESIGN.md §10). Each replaces one field of the
resolved configuration for that connection; the stored login never goes to a
server the arguments changed (host, port or security), as in the admin's
retype-the-password rule.
"""

import dataclasses

from ..models import Security

SERVER_FIELDS = ("host", "port", "security")


@dataclasses.dataclass(frozen=True, repr=False)
class ConnectionArgs:
    """The connection arguments a caller gave (None: not given)."""

    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None
    use_tls: bool | None = None
    use_ssl: bool | None = None
    timeout: float | None = None
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None

    def __post_init__(self):
        if self.use_tls and self.use_ssl:
            # Django's own message and exception type for the same mistake.
            raise ValueError(
                "EMAIL_USE_TLS/EMAIL_USE_SSL are mutually exclusive, so only set "
                "one of those settings to True."
            )

    def __repr__(self):
        given = [f"{f.name}={'***' if f.name == 'password' else getattr(self, f.name)!r}"
                 for f in dataclasses.fields(self) if getattr(self, f.name) is not None]
        return f"<ConnectionArgs {' '.join(given)}>"

    def __bool__(self):
        return any(getattr(self, f.name) is not None for f in dataclasses.fields(self))

    @property
    def client_certificate(self):
        """Return (certfile, keyfile) for a TLS client certificate, or None."""
        if self.ssl_certfile or self.ssl_keyfile:
            return self.ssl_certfile, self.ssl_keyfile
        return None

    def security(self, stored):
        """Return the security that replaces *stored* (``use_ssl``/``use_tls`` as Django)."""
        if self.use_ssl:
            return Security.SSL
        if self.use_tls:
            return Security.STARTTLS
        turned_off = (self.use_ssl is False and stored == Security.SSL) or (
            self.use_tls is False and stored == Security.STARTTLS)
        return Security.NONE if turned_off else stored

    def apply(self, config):
        """Return *config* with these arguments in place of the fields they name."""
        if not self:
            return config
        changes = {"security": self.security(config.security)}
        if self.host is not None:
            changes["host"] = str(self.host)
        if self.port is not None:
            changes["port"] = int(self.port)
        if self.timeout is not None:
            changes["timeout"] = self.timeout
        server_changed = any(
            changes.get(name, getattr(config, name)) != getattr(config, name)
            for name in SERVER_FIELDS
        )
        if server_changed:
            # Another server gets only the login the caller gave, never the stored one
            # (nor a stored OAuth2 sign-in).
            changes.update(username=self.username or "", password=self.password or "",
                           auth_method="password")
        else:
            if self.username is not None:
                changes["username"] = self.username
            if self.password is not None:
                changes["password"] = self.password
                if self.username is not None:
                    changes["auth_method"] = "password"
        return dataclasses.replace(config, **changes)


def connection_args(alias, **given):
    """Return ConnectionArgs; a MAILERS entry (*alias*, 6.1) reports errors as Django does."""
    if alias is not None and given.get("use_tls") and given.get("use_ssl"):
        from django.core.mail import InvalidMailer

        raise InvalidMailer("The 'use_ssl' and 'use_tls' OPTIONS are incompatible. "
                            "Set at most one of them to True.", alias=alias)
    return ConnectionArgs(**given)
