"""Message kinds: the template keys a site sends, and the macros the sending code fills.

A stored template is only ever used for the key its sending code asks for, and
only the macros that code fills get a value. So the template admin offers the
registered kinds as its key, and warns (form and Preview) about a macro the
kind never fills; at send time a macro without a value fails the message
(:class:`~symfonia_mail.exceptions.UnfilledMacro`) instead of reaching a
customer as ``{umowa}``.

The app registers ``test``, ``invoice``, ``payment_reminder`` and
``contract``. A host project registers its own kinds in code, e.g. in its
``AppConfig.ready()``::

    from django.utils.translation import gettext_lazy as _
    from symfonia_mail import kinds

    kinds.register("offer", label=_("Offer"), description=_("An offer sent to a client."),
                   macros=["numer", "z dnia", "kontrahent"])

``{firma}``, ``{wysyłający}`` and ``{wystawiający}`` have documented defaults
(company name, sender, nothing), so every kind fills them.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .macros import MACROS, canonical, used_macros

# Macros with a documented default (docs/integrator-guide.md): always filled.
DEFAULT_MACROS = ("firma", "wysyłający", "wystawiający")


@dataclass(frozen=True)
class Kind:
    """One kind of message: its template key, what it is, and the macros it fills."""

    key: str
    label: str | Promise
    description: str | Promise
    macros: tuple[str, ...]  # Symfonia names the sending code gives a value

    @property
    def fills(self) -> frozenset[str]:
        """Return every macro this kind has a value for (its own and the defaults)."""
        return frozenset(self.macros) | frozenset(DEFAULT_MACROS)

    def unfilled(self, *texts: str) -> list[str]:
        """Return the known macros used in *texts* that this kind never fills, in order."""
        return [name for name in used_macros(*texts) if name not in self.fills]


_registry: dict[str, Kind] = {}


def register(key: str, *, label: str | Promise, description: str | Promise = "",
             macros: Iterable[str] = ()) -> Kind:
    """Register (or replace) the kind *key*; return it.

    *macros* are the macro names the code that sends this kind fills (Symfonia
    names or their ASCII aliases).
    """
    names = tuple(canonical(dict.fromkeys(macros)))
    unknown = [name for name in names if name not in MACROS]
    if unknown:
        raise ValueError(f"Unknown macro(s) {unknown!r} for kind {key!r}; known: {list(MACROS)}")
    kind = Kind(key, label, description, names)
    _registry[key] = kind
    return kind


def unregister(key: str) -> None:
    """Forget the kind *key* (a no-op when it is not registered)."""
    _registry.pop(key, None)


def get(key: str) -> Kind | None:
    """Return the Kind registered for *key*, or None."""
    return _registry.get(key)


def all_kinds() -> list[Kind]:
    """Return the registered kinds in registration order."""
    return list(_registry.values())


register(
    "test", label=_("Test message"),
    description=_("The message Test SMTP sends to the sender address."),
    macros=[],
)
register(
    "invoice", label=_("Invoice"),
    description=_("An invoice sent to the buyer, with the invoice attached."),
    macros=["numer", "z dnia", "kontrahent"],
)
register(
    "payment_reminder", label=_("Overdue-payment reminder"),
    description=_("One reminder per contractor listing all their overdue documents. {numer} "
                  "and {numery} are the document numbers, {z dnia} their issue dates."),
    macros=["numer", "numery", "z dnia", "kontrahent"],
)
register(
    "contract", label=_("Contract"),
    description=_("A contract sent to the contractor, with the contract attached."),
    macros=["umowa", "z dnia", "kontrahent", "data od", "data do"],
)
