"""parse_report against real-world bounces (flufl.bounce's samples, tests/data/bounces).

The score counts the reports recognised (a report of the right kind) and the
reports whose recipients are exactly right (address and failed/delayed), as
flufl.bounce's own tests expect them; the floor keeps it from slipping.
"""

import json
from pathlib import Path

import pytest

from symfonia_mail.reports import parse_report

CORPUS = Path(__file__).parent / "data" / "bounces"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())


def outcome(name):
    """Return ({(address, action)} parsed, {(address, action)} expected, kind) for *name*."""
    report = parse_report((CORPUS / name).read_bytes())
    expected = {(address.lower(), action)
                for action, addresses in EXPECTED[name].items() for address in addresses}
    found = set()
    if report is not None:
        found = {(r.address.lower(), r.action) for r in report.recipients
                 if r.action in ("failed", "delayed")}
    return found, expected, report.kind if report else None


def test_corpus_score():
    recognised = right = bounces = 0
    wrong = []
    for name in sorted(EXPECTED):
        found, expected, kind = outcome(name)
        if expected:
            bounces += 1
            recognised += kind in ("dsn", "bounce")
        if found == expected:
            right += 1
        else:
            wrong.append(f"{name}: {sorted(found)} != {sorted(expected)}")
    print(f"\ncorpus: {len(EXPECTED)} samples, {bounces} bounces; recognised {recognised}"
          f"/{bounces}, recipients right {right}/{len(EXPECTED)}")
    print("\n".join(wrong))
    # 2026-12-07: 111/111 recognised, 116/116 right.
    assert recognised >= bounces - 1
    assert right >= len(EXPECTED) - 2


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if not any(EXPECTED[n].values())])
def test_no_false_bounce_in_the_samples_that_are_none(name):
    found, _expected, _kind = outcome(name)
    assert not found


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if EXPECTED[n]["delayed"]])
def test_a_delay_is_never_a_failure(name):
    found, _expected, _kind = outcome(name)
    assert found and all(action == "delayed" for _address, action in found)


def test_the_headers_alone_tell_every_real_bounce_worth_fetching():
    from symfonia_mail.reports import likely_report

    for name in sorted(EXPECTED):
        data = (CORPUS / name).read_bytes()
        headers = data.split(b"\n\n", 1)[0]
        if any(EXPECTED[name].values()):
            assert likely_report(headers), name
