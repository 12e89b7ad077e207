"""System checks, ids symfonia_mail.E00x (errors) and W00x (warnings)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError
from django.utils.module_loading import import_string

from . import conf, kinds
from .background import taskq
from .compat import HAS_MAILERS, is_mailer_alias, mailers_configured
from .fields import UnreadableSecret
from .models import GlobalMailConfig, MessageTemplate, UserMailConfig

DJANGO_SMTP = "django.core.mail.backends.smtp.EmailBackend"
MAILERS_EXAMPLE = (
    'MAILERS = {"default": {"BACKEND": "symfonia_mail.backends.ConfiguredEmailBackend"}}'
)

# Every encrypted field of a mail configuration (the rotate_key command covers them too).
SECRET_NAMES = ("password", "attachment_password", "oauth_client_secret", "oauth_refresh_token")


@register()
def check_settings(app_configs=None, **kwargs):
    """Check FIELD_ENCRYPTION_KEY, SYMFONIA_MAIL and the system backend."""
    problems = []
    keys = getattr(settings, "FIELD_ENCRYPTION_KEY", None)
    if not keys:
        problems.append(Error(
            "FIELD_ENCRYPTION_KEY is not set; mail passwords cannot be stored encrypted.",
            hint="Generate one with: python -c \"from cryptography.fernet import Fernet; "
                 "print(Fernet.generate_key().decode())\" and keep it out of version control.",
            id="symfonia_mail.E001",
        ))
    else:
        from cryptography.fernet import Fernet

        for key in keys if isinstance(keys, list | tuple) else [keys]:
            try:
                Fernet(key)
            except (ValueError, TypeError):
                problems.append(Error(
                    "FIELD_ENCRYPTION_KEY contains a value that is not a Fernet key.",
                    hint="Each key must be 32 url-safe base64-encoded bytes (44 characters).",
                    id="symfonia_mail.E001",
                ))
                break
    try:
        options = conf.app_settings()
    except Exception as exc:  # noqa: BLE001 - reported as a check, not raised
        return [*problems, Error(str(exc), id="symfonia_mail.E002",
                                 hint="Fix the SYMFONIA_MAIL setting.")]
    backend = options["SYSTEM_BACKEND"]
    if is_mailer_alias(backend):
        backend = settings.MAILERS[backend].get("BACKEND", DJANGO_SMTP)
    if backend == "symfonia_mail.backends.ConfiguredEmailBackend":
        problems.append(Error(
            "SYMFONIA_MAIL['SYSTEM_BACKEND'] points at ConfiguredEmailBackend itself.",
            hint="Name the backend that carries mail for transport='system', e.g. "
                 "'django.core.mail.backends.smtp.EmailBackend'.",
            id="symfonia_mail.E003",
        ))
    else:
        try:
            import_string(backend)
        except ImportError:
            problems.append(Error(
                f"SYMFONIA_MAIL['SYSTEM_BACKEND'] = {backend!r} cannot be imported.",
                hint="Give the dotted path of an e-mail backend class.",
                id="symfonia_mail.E003",
            ))
    if options["ZIP_ENCRYPTION"] not in conf.ZIP_ENCRYPTIONS:
        problems.append(Error(
            f"SYMFONIA_MAIL['ZIP_ENCRYPTION'] = {options['ZIP_ENCRYPTION']!r} is not known.",
            hint="Use 'aes' (default, strong) or 'zipcrypto' (weak, opens in built-in tools).",
            id="symfonia_mail.E004",
        ))
    if not options["VERIFY_CERTIFICATES"]:
        problems.append(Warning(
            "SYMFONIA_MAIL['VERIFY_CERTIFICATES'] is False: SMTP server certificates "
            "are not verified for any configuration.",
            hint="Trust the server's CA instead (SSL_CERT_FILE) and remove the setting.",
            id="symfonia_mail.W001",
        ))
    problems.extend(check_mailers(options["SYSTEM_BACKEND"],
                                  explicit=_system_backend_is_set()))
    problems.extend(_background_problems(options))
    middleware = getattr(settings, "MIDDLEWARE", [])
    ours = "symfonia_mail.middleware.CurrentUserMiddleware"
    auth = "django.contrib.auth.middleware.AuthenticationMiddleware"
    both = ours in middleware and auth in middleware
    if both and middleware.index(ours) < middleware.index(auth):
        problems.append(Error(
            "CurrentUserMiddleware is listed before AuthenticationMiddleware.",
            hint="Move it after AuthenticationMiddleware so request.user exists.",
            id="symfonia_mail.E005",
        ))
    return problems


def _system_backend_is_set():
    return "SYSTEM_BACKEND" in (getattr(settings, "SYMFONIA_MAIL", None) or {})


def check_mailers(system_backend, *, explicit=True):
    """Tell a Django 6.1 project how to move from EMAIL_BACKEND to MAILERS.
    W011 (Django's SMTP backend for transport 'system') only when
    SYSTEM_BACKEND is *explicit*; for the default, check_system_transport
    warns once a stored configuration uses that transport.
    """
    if not HAS_MAILERS:
        return []
    if not mailers_configured():
        if not settings.is_overridden("EMAIL_BACKEND"):
            return []
        return [Warning(
            "Django 6.1 deprecates EMAIL_BACKEND and the EMAIL_* settings; "
            "symfonia_mail works with MAILERS.",
            hint=f"Replace EMAIL_BACKEND with {MAILERS_EXAMPLE}. If a configuration uses "
                 "transport 'system', add a mailer for it, e.g. MAILERS['system'] = "
                 "{'BACKEND': '" + DJANGO_SMTP + "', 'OPTIONS': {'host': EMAIL_HOST, "
                 "'port': EMAIL_PORT, ...}}, set SYMFONIA_MAIL['SYSTEM_BACKEND'] = 'system' "
                 "and delete the EMAIL_* settings. Pick the sending user with "
                 "mail_context(user=...) or message.user.",
            id="symfonia_mail.W010",
        )]
    if system_backend == DJANGO_SMTP and explicit:
        return [_system_route_warning()]
    return []


def _system_route_warning():
    return Warning(
        "Transport 'system' goes to Django's SMTP backend (SYMFONIA_MAIL['SYSTEM_BACKEND']), "
        "which under MAILERS takes its server from a mailer's OPTIONS, not from EMAIL_HOST.",
        hint="Add a mailer for transport 'system', e.g. MAILERS['system'] = "
             "{'BACKEND': '" + DJANGO_SMTP + "', 'OPTIONS': {'host': 'smtp.example.com'}}, "
             "and set SYMFONIA_MAIL['SYSTEM_BACKEND'] = 'system'.",
        id="symfonia_mail.W011",
    )


def _background_problems(options):
    """Check that background sending has a Tasks framework and a valid backend alias."""
    if not options["BACKGROUND"]:
        return []
    if not taskq.AVAILABLE:
        return [Error(
            "SYMFONIA_MAIL['BACKGROUND'] is True but Django's Tasks framework is missing.",
            hint="On Django 5.2 install the backport: pip install 'symfonia-mail[background]' "
                 "(django-tasks); Django 6.0+ ships django.tasks.",
            id="symfonia_mail.E010",
        )]
    try:
        taskq.backend()
    except Exception as exc:  # noqa: BLE001 - reported as a check
        return [Error(
            f"SYMFONIA_MAIL['TASK_BACKEND'] = {options['TASK_BACKEND']!r} is not a usable "
            f"Tasks backend: {exc}",
            hint="Name an alias of the TASKS setting (default: 'default').",
            id="symfonia_mail.E010",
        )]
    return []


@register(Tags.database)
def check_stored_secrets(app_configs=None, databases=None, **kwargs):
    """Report stored passwords that the current key cannot decrypt (check --database)."""
    if not databases:
        return []

    problems = []
    try:
        rows = [*GlobalMailConfig.objects.all(), *UserMailConfig.objects.all()]
    except DatabaseError:
        return []  # not migrated yet
    for row in rows:
        for name in SECRET_NAMES:
            if isinstance(getattr(row, name), UnreadableSecret):
                problems.append(Error(
                    f"The {name.replace('_', ' ')} of {row} cannot be decrypted with the "
                    "current FIELD_ENCRYPTION_KEY.",
                    hint="Put back the key it was saved with (FIELD_ENCRYPTION_KEY accepts a "
                         "list, newest first) or enter the password again in the admin "
                         "(an OAuth2 refresh token: press Connect again).",
                    obj=row,
                    id="symfonia_mail.E006",
                ))
    return problems


@register(Tags.database)
def check_system_transport(app_configs=None, databases=None, **kwargs):
    """W011 for a stored configuration on transport 'system' with the default backend."""
    if not databases or not mailers_configured() or _system_backend_is_set():
        return []  # an explicit SYSTEM_BACKEND is check_settings' to judge

    try:
        used = any(model.objects.filter(transport="system").exists()
                   for model in (GlobalMailConfig, UserMailConfig))
    except DatabaseError:
        return []  # not migrated yet
    return [_system_route_warning()] if used else []


@register(Tags.database)
def check_template_kinds(app_configs=None, databases=None, **kwargs):
    """List stored templates whose key no registered kind knows (check --database)."""
    if not databases:
        return []

    try:
        rows = list(MessageTemplate.objects.select_related("owner").order_by("key", "pk"))
    except DatabaseError:
        return []  # not migrated yet
    known = ", ".join(kind.key for kind in kinds.all_kinds())
    return [
        Warning(
            f"The message template {row} has the key {row.key!r}, which no registered kind "
            "uses: no message is ever sent with it. It is kept, not deleted.",
            hint=f"Change its key in the admin to one of: {known}; or register the kind in "
                 "code with symfonia_mail.kinds.register().",
            obj=row,
            id="symfonia_mail.W002",
        )
        for row in rows if kinds.get(row.key) is None
    ]
