"""The one place that decides which mail configuration applies to a user.

Resolved configurations are immutable snapshots cached per process. A
:class:`ConfigRevision` token changes on every save or delete; a
:class:`Session` (one per backend connection) reads it once and drops the
process cache when it moved. So: one cheap query per connection (none with a
shared revision cache, see revision.py), none per message, and a change is
visible to the next connection in any process.
"""

import uuid
from dataclasses import dataclass, field

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .. import conf
from ..context import user_pk
from ..exceptions import InvalidAddress, UnreadableSecretError
from ..fields import UnreadableSecret
from ..models import GlobalMailConfig, MessageTemplate, Scope, UserMailConfig
from ..secret import Secret, reveal
from ..validators import (
    address_list_problems,
    display_address,
    has_control_chars,
    parse_dsn_notify,
    strict_address_list,
)
from . import revision

# The setting that holds each API transport's address (shown as the log's server).
API_URL_SETTINGS = {"microsoft_graph": "GRAPH_URL", "gmail_api": "GMAIL_API_URL"}


@dataclass(frozen=True, repr=False)
class ResolvedConfig:
    """What one configuration says, ready for sending (no ORM objects inside)."""

    scope: str
    user_id: int | None  # whose individual configuration; None for the global one
    transport: str
    host: str
    port: int
    security: str
    verify_certificate: bool
    timeout: float  # seconds, as smtplib wants them
    username: str
    sender_email: str
    sender_name: str
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    dsn_notify: tuple[str, ...]
    company_name: str
    rate_limit: int | None = None  # messages per minute, for all workers together
    max_connections: int | None = None  # SMTP sessions at once (None: automatic)
    ca_certificates: str = ""  # PEM trusted instead of the system store
    # Secrets travel wrapped (masked repr): Django's DEBUG pages print every local.
    password: Secret = field(default=Secret(""), compare=False)
    attachment_password: Secret = field(default=Secret(""), compare=False)
    auth_method: str = "password"  # password | microsoft365 | google (OAuth2, XOAUTH2)
    oauth_tenant: str = ""
    oauth_client_id: str = ""
    oauth_client_secret: str = field(default="", compare=False)
    oauth_refresh_token: str = field(default="", compare=False)  # as stored when resolved
    # (field name, bad entries) of stored values that are not addresses; raised per
    # message by check_addresses(), so one bad configuration fails only its own sends.
    address_problems: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The individual configuration of a non-superuser: ALLOWED_SERVERS applies when sending.
    restricted: bool = False
    # The mailbox side (IMAP): delivery reports and the Sent copy; no imap_host, none.
    imap_host: str = ""
    imap_port: int = 993
    imap_security: str = "ssl"
    imap_username: str = ""  # as stored; imap_login() applies the SMTP fallback
    imap_password: Secret = field(default=Secret(""), compare=False)
    reports_folder: str = "INBOX"
    sent_copy: str = "auto"
    sent_folder: str = ""

    @property
    def key(self):
        """Identify the configuration: one SMTP connection per key."""
        return "global" if self.user_id is None else f"user:{self.user_id}"

    @property
    def label(self):
        return "the global configuration" if self.user_id is None else (
            f"the individual configuration of user #{self.user_id}"
        )

    @property
    def from_header(self):
        if not self.sender_email:
            return ""
        return display_address(self.sender_name, self.sender_email)

    @property
    def server(self):
        if self.transport in API_URL_SETTINGS:
            return conf.get(API_URL_SETTINGS[self.transport])
        return f"{self.host}:{self.port}" if self.host else ""

    def checked_password(self):
        """Return the SMTP password, refusing a ciphertext the key cannot read."""
        return _readable(self.password, "SMTP password", self.label)

    def check_addresses(self):
        """Raise InvalidAddress when a stored sender, CC or BCC value is not addresses."""
        if self.address_problems:
            name, entries = self.address_problems[0]
            raise InvalidAddress(name, self.label, entries)

    @property
    def imap_server(self):
        return f"{self.imap_host}:{self.imap_port}" if self.imap_host else ""

    def imap_login(self):
        """Return (user name, password Secret) for the IMAP login: empty ones are SMTP's."""
        if self.imap_username or reveal(self.imap_password):
            password = self.imap_password if reveal(self.imap_password) else self.password
            return self.imap_username or self.username, _readable(
                password, "IMAP password", self.label)
        return self.username, self.checked_password()

    def checked_attachment_password(self):
        return _readable(self.attachment_password, "attachment password", self.label)

    def __repr__(self):
        # Never show secrets: only whether they are set.
        return (
            f"<ResolvedConfig {self.key} {self.transport} {self.server} "
            f"user={self.username!r} password={'set' if self.password else 'empty'} "
            f"auth={self.auth_method}>"
        )


def _readable(secret, what, label):
    if isinstance(reveal(secret), UnreadableSecret):
        raise UnreadableSecretError(what, label)
    return secret


def from_model(row, *, company_name=""):
    """Build a ResolvedConfig from a GlobalMailConfig or UserMailConfig (saved or not)."""
    is_user = isinstance(row, UserMailConfig)
    cc, bad_cc = strict_address_list(row.cc)
    bcc, bad_bcc = strict_address_list(row.bcc)
    problems = {
        "sender_email": _sender_problems(row.sender_email),
        # A display name with a line break would end the From header early.
        "sender_name": [row.sender_name] if has_control_chars(row.sender_name)
        else [],
        "cc": bad_cc, "bcc": bad_bcc,
    }
    return ResolvedConfig(
        scope=Scope.INDIVIDUAL if is_user else Scope.GLOBAL,
        user_id=row.user_id if is_user else None,
        transport=row.transport,
        host=row.host,
        port=row.port,
        security=row.security,
        verify_certificate=row.verify_certificate,
        ca_certificates=row.ca_certificates or "",
        timeout=row.timeout_ms / 1000,
        username=row.username,
        sender_email=row.sender_email,
        sender_name=row.sender_name,
        cc=tuple(cc),
        bcc=tuple(bcc),
        dsn_notify=parse_dsn_notify(row.dsn_notify),
        company_name=company_name or getattr(row, "company_name", ""),
        rate_limit=row.rate_limit_per_minute or None,
        max_connections=row.max_connections or None,
        password=Secret(row.password),
        attachment_password=Secret(row.attachment_password),
        auth_method=row.auth_method,
        oauth_tenant=row.oauth_tenant,
        oauth_client_id=row.oauth_client_id,
        oauth_client_secret=row.oauth_client_secret or "",
        oauth_refresh_token=row.oauth_refresh_token or "",
        address_problems=tuple((name, tuple(bad)) for name, bad in problems.items() if bad),
        restricted=is_user and _owner_restricted(row),
        imap_host=row.imap_host,
        imap_port=row.imap_port,
        imap_security=row.imap_security,
        imap_username=row.imap_username,
        imap_password=Secret(row.imap_password),
        reports_folder=row.reports_folder or "INBOX",
        sent_copy=row.sent_copy,
        sent_folder=row.sent_folder,
    )


def _owner_restricted(row):
    """Return whether the owner of a UserMailConfig is not a superuser."""
    if row.user_id is None:
        return False
    user = row.user  # select_related by the resolution queries
    return not getattr(user, "is_superuser", False)


# The 0.1 name: it took a model row, not Django settings.
from_settings = from_model


def _sender_problems(value):
    """Return why the stored sender address is not one address (its bad entries)."""
    if value and "," in value:
        return [value]
    return address_list_problems(value)


class _Generation:
    """Resolved configurations of this process for one revision token.

    A new token gets a new generation object instead of clearing the old one
    in place: a thread still resolving under the old token then writes into
    the discarded generation and can never plant a stale value in the new one.
    """

    def __init__(self, token=None):
        self.token = token
        self.global_config = None
        self.by_user = {}  # user id -> ResolvedConfig (the global one when not individual)
        self.extra = {}  # other per-revision caches (e.g. templates), by name


_generation = _Generation()


def current_token():
    """Return the revision token (one query, or none with a shared revision cache)."""
    return revision.read_token()


def bump_revision():
    """Record that the configuration changed (call after any bulk update too)."""
    revision.write_token(uuid.uuid4().hex)
    clear_cache()


def clear_cache():
    """Forget every cached configuration of this process."""
    global _generation
    _generation = _Generation()


def _current(token):
    """Return the process's generation for *token*, starting a new one if it moved."""
    global _generation
    generation = _generation
    if token != generation.token:
        generation = _generation = _Generation(token)
    return generation


def cached_generation():
    """Return the current generation (for tests and diagnostics)."""
    return _generation


class Session:
    """Resolution for one connection: the freshness check happens once, here.

    *deferred*: when this process has checked the token before, start from its
    configurations without asking, and check with :meth:`confirm` before the
    first message is committed. The sending backend does so while the SMTP
    server answers the message's commands, so the query costs no time of its
    own; a save seen then sends that message again from the start, under the
    new configuration (docs/connections.md, "Fresh without waiting").
    """

    def __init__(self, *, deferred=False):
        generation = _generation
        self.confirmed = not (deferred and generation.token is not None)
        if self.confirmed:
            generation = _current(current_token())
        else:  # on PostgreSQL the query leaves now, its answer is read by confirm()
            self._read_token = revision.start_reading()
        self.cache = generation

    def confirm(self):
        """Check the token once (if not yet); return False when the configuration moved.

        After False, this session resolves under the new token: whatever was built
        under the old one must be built again.
        """
        if self.confirmed:
            return True
        token = self._read_token()
        self.confirmed = True
        if token == self.cache.token:
            return True
        self.cache = _current(token)
        return False

    def global_config(self):
        cache = self.cache
        if cache.global_config is None:
            cache.global_config = from_model(GlobalMailConfig.get_solo())
        return cache.global_config

    def config_for(self, user):
        """Return the configuration that applies to *user* (None: the global one)."""
        user_id = user_pk(user)
        if user_id is None:
            return self.global_config()
        cache = self.cache
        try:
            return cache.by_user[user_id]
        except KeyError:
            pass
        row = UserMailConfig.objects.filter(user_id=user_id, scope=Scope.INDIVIDUAL).select_related(
            "user").first()
        if row is None:
            resolved = self.global_config()
        else:
            resolved = from_model(row, company_name=self.global_config().company_name)
        cache.by_user[user_id] = resolved
        return resolved

    def prefetch(self, users):
        """Resolve the configurations of all *users* not cached yet, with one query."""
        cache = self.cache
        missing = {user_id for user_id in map(user_pk, users)
                   if user_id is not None and user_id not in cache.by_user}
        if not missing:
            return
        global_config = self.global_config()
        rows = UserMailConfig.objects.filter(
            user_id__in=missing, scope=Scope.INDIVIDUAL).select_related("user")
        for row in rows:
            cache.by_user[row.user_id] = from_model(
                row, company_name=global_config.company_name
            )
            missing.discard(row.user_id)
        for user_id in missing:
            cache.by_user[user_id] = global_config

    def cached(self, name, key, build):
        """Return ``build()`` cached under (*name*, *key*) for this revision."""
        bucket = self.cache.extra.setdefault(name, {})
        try:
            return bucket[key]
        except KeyError:
            value = bucket[key] = build()
            return value


def resolve(user=None):
    """Return the configuration that applies to *user* (a fresh session)."""
    return Session().config_for(user)


@receiver(post_save, sender=GlobalMailConfig)
@receiver(post_delete, sender=GlobalMailConfig)
@receiver(post_save, sender=UserMailConfig)
@receiver(post_delete, sender=UserMailConfig)
@receiver(post_save, sender=MessageTemplate)
@receiver(post_delete, sender=MessageTemplate)
def _configuration_changed(**kwargs):
    if kwargs.get("raw"):
        return  # loaddata: the revision table may not be loaded yet
    bump_revision()
