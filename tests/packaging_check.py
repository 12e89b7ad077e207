"""Check the installed wheel (run by `make wheel-check` in a fresh venv, outside the checkout).

Every data file of the source package (templates, migrations, locale, static)
must be inside the installed package, and the app must set up, migrate and
find its templates and translations there.
"""

import sys
from pathlib import Path

import django
from django.conf import settings

SOURCE = Path(__file__).resolve().parent.parent / "symfonia_mail"


def main():
    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django.contrib.admin", "django.contrib.messages",
                        "django.contrib.sessions", "symfonia_mail"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "APP_DIRS": True}],
        FIELD_ENCRYPTION_KEY="1kBzrjKphtTwXxtuYXvg43JijZhjSwMQjyEq-Pq_zzY=",
        EMAIL_BACKEND="symfonia_mail.backends.ConfiguredEmailBackend",
        USE_I18N=True, LANGUAGE_CODE="pl",
    )
    django.setup()
    import symfonia_mail

    installed = Path(symfonia_mail.__file__).resolve().parent
    if installed == SOURCE:
        sys.exit("packaging check: imported the source tree, not the installed wheel")
    missing = []
    for folder in ("templates", "migrations", "locale", "static"):
        for path in (SOURCE / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                if not (installed / path.relative_to(SOURCE)).is_file():
                    missing.append(str(path.relative_to(SOURCE)))
    if not (installed / "py.typed").is_file():
        missing.append("py.typed")
    if missing:
        sys.exit("packaging check: missing from the wheel: " + ", ".join(sorted(missing)))

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from symfonia_mail.backends import ConfiguredEmailBackend  # noqa: F401
    from symfonia_mail.models import GlobalMailConfig

    assert GlobalMailConfig.get_solo().timeout_ms == 30_000
    templates = [p for p in (installed / "templates").rglob("*") if p.is_file()]
    if templates:
        from django.template.loader import get_template

        name = templates[0].relative_to(installed / "templates").as_posix()
        get_template(name)
    mo = installed / "locale" / "pl" / "LC_MESSAGES" / "django.mo"
    if (SOURCE / "locale" / "pl" / "LC_MESSAGES" / "django.mo").is_file():
        from django.utils import translation

        with translation.override("pl"):
            translated = str(GlobalMailConfig._meta.verbose_name)
        if translated == "global mail configuration":
            sys.exit(f"packaging check: {mo} is installed but not used")
    print(f"packaging check: OK ({installed})")


if __name__ == "__main__":
    main()
