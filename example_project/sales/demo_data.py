"""The demo's sales data: our company, ~30 contractors, ~200 invoices (deterministic).

Kept apart from the seed_demo command so tests and the demo read the same
plan. ``REFUSED_ADDRESS`` is the address the demo's capture SMTP server
refuses (``demo.capture`` imports it from here).
"""

import datetime
import random
from decimal import Decimal

REFUSED_ADDRESS = "odrzucony@kontrahent.example"
COMPANY = {
    "name": "Firma Demo sp. z o.o.",
    "tax_id": "5213000000",
    "address": "ul. Świętokrzyska 11\n00-950 Warszawa",
    "bank_account": "PL61 1090 1014 0000 0712 1981 2874",
}
CONTRACTOR_COUNT = 30
INVOICE_COUNT = 200
NO_EMAIL_INDEX = 7  # the contractor without an e-mail address
REFUSED_INDEX = 11  # the contractor whose mail server refuses the address

# Feminine nouns only, so that the adjectives of _TRADES agree with them.
_KINDS = ["Hurtownia", "Pracownia", "Spółdzielnia", "Firma", "Agencja"]
_TRADES = [
    "Stolarska", "Ogrodnicza", "Budowlana", "Elektryczna", "Spożywcza", "Transportowa",
    "Poligraficzna", "Handlowa", "Mięsna", "Piekarnicza",
]
_NAMES = [
    "Łąka", "Żuraw", "Gęślarz", "Źródło", "Świerk", "Dąb", "Sójka", "Wrzos", "Jeżyna",
    "Ćma", "Mróz", "Szczygieł", "Bóbr", "Żbik", "Łoś",
]
_FORMS = ["sp. z o.o.", "S.A.", "s.c.", "sp.j."]
_CITIES = [
    ("00-001", "Warszawa"), ("30-001", "Kraków"), ("90-001", "Łódź"), ("80-001", "Gdańsk"),
    ("60-001", "Poznań"), ("50-001", "Wrocław"), ("20-001", "Lublin"), ("15-001", "Białystok"),
]
_ASCII = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
_DESCRIPTIONS = [
    "Usługi doradcze — październik", "Dostawa materiałów biurowych", "Serwis urządzeń",
    "Transport towarów", "Wynajem sprzętu", "Szkolenie pracowników", "Usługi księgowe",
]


def _slug(text):
    return "".join(ch for ch in text.translate(_ASCII).lower() if ch.isalnum())


def _nip(index):
    # A valid Polish NIP: 9 digits and a mod-11 check digit (never 10).
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    base = 521_000_000 + index * 1_237
    while True:
        digits = [int(d) for d in f"{base:09d}"]
        check = sum(w * d for w, d in zip(weights, digits, strict=True)) % 11
        if check != 10:
            return f"{base:09d}{check}"
        base += 1


def contractors():
    """Return the planned contractors as dicts (tax_id is the natural key)."""
    rng = random.Random(2026)  # noqa: S311 — demo data, not secrets
    result = []
    for index in range(CONTRACTOR_COUNT):
        name = (f"{_KINDS[index % len(_KINDS)]} {_TRADES[index % len(_TRADES)]} "
                f"„{_NAMES[index % len(_NAMES)]}” {_FORMS[index % len(_FORMS)]}")
        domain = f"{_slug(_NAMES[index % len(_NAMES)])}{index + 1}.example"
        emails = f"ksiegowosc@{domain}"
        if index % 5 == 0:
            emails += f", faktury@{domain}"
        if index == NO_EMAIL_INDEX:
            emails = ""
        if index == REFUSED_INDEX:
            emails = REFUSED_ADDRESS
        postcode, city = rng.choice(_CITIES)
        result.append({
            "tax_id": _nip(index), "name": name, "emails": emails,
            "address": f"ul. {_NAMES[(index * 7) % len(_NAMES)]}owa {index + 3}\n{postcode} {city}",
        })
    return result


def invoices(today):
    """Return the planned invoices as dicts (number is the natural key).

    Issue dates go back ~5 months from *today*; payment is due after 14 or
    30 days; about half are paid, some partially, so a share is overdue. The
    contractors with no e-mail and with the refused address always have an
    overdue invoice, and a few contractors never do.
    """
    rng = random.Random(12)  # noqa: S311 — demo data, not secrets
    planned = contractors()
    result = []
    for seq in range(1, INVOICE_COUNT + 1):
        index = rng.randrange(CONTRACTOR_COUNT)
        issue = today - datetime.timedelta(days=150 - (seq * 150) // INVOICE_COUNT)
        due = issue + datetime.timedelta(days=rng.choice((14, 30)))
        amount = Decimal(rng.randrange(20_000, 2_500_000)) / 100
        roll = rng.random()
        paid = amount if roll < 0.55 else (amount * Decimal("0.4")).quantize(Decimal("0.01")) \
            if roll < 0.65 else Decimal("0.00")
        if index in (NO_EMAIL_INDEX, REFUSED_INDEX) or index >= CONTRACTOR_COUNT - 3:
            # Fixed outcomes for the special contractors: see the docstring.
            paid = Decimal("0.00") if index < CONTRACTOR_COUNT - 3 else amount
            due = min(due, today - datetime.timedelta(days=5))
            issue = min(issue, due)
        result.append({
            "number": f"FV/{seq}/{issue.year}", "tax_id": planned[index]["tax_id"],
            "issue_date": issue, "due_date": due, "amount": amount, "paid_amount": paid,
            "currency": "EUR" if seq % 17 == 0 else "PLN",
            "description": _DESCRIPTIONS[seq % len(_DESCRIPTIONS)],
        })
    return result
