"""Pure tests of judging a day with the facts of that day: registration periods (first and
renewals), suspensions and cancellations, the verification day, the entitlement a late
verification establishes, and which failure a refusal names first. No database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from registry.rules.evaluate import allowance, best_valid_cert, month_end
from registry.rules.model import Cert, Period
from tests.test_rules import BOOK, person, spell

D = dt.date
CW = "community_worker"


def cert(*periods: Period, verified_on: dt.date | None = D(2019, 2, 1), status: str = "verified") -> Cert:
    return Cert(1, "assistant", "Z00000001", status, verified_on=verified_on, periods=periods)


FIRST = Period("registration", D(2019, 1, 1), D(2021, 12, 31))
RENEWED = Period("renewal", D(2022, 4, 1), D(2025, 3, 31))  # three months after the lapse


def paid(c: Cert, year: int, month: int, *, entitled: bool = False) -> bool | None:
    return allowance(person(spell(post=CW), certs=[c]), BOOK, year, month, entitled=entitled).outcome


def test_a_lapse_between_a_period_and_its_renewal() -> None:
    c = cert(FIRST, RENEWED)
    assert paid(c, 2021, 12) is True
    assert [paid(c, 2022, m) for m in (1, 2, 3)] == [False, False, False]
    assert paid(c, 2022, 4) is True
    gap = allowance(person(spell(post=CW), certs=[c]), BOOK, 2022, 2)
    assert "2021-12-31 届满" in gap.summary
    # The renewal is named as such when it holds.
    april = allowance(person(spell(post=CW), certs=[c]), BOOK, 2022, 4)
    assert "（再登记） 2022-04-01 至 2025-03-31" in april.findings[1].text


def test_the_old_single_period_shape_still_reads() -> None:
    legacy = Cert(1, "assistant", "Z1", "verified", D(2019, 1, 1), D(2021, 12, 31), D(2019, 2, 1))
    assert legacy.valid_on(D(2021, 12, 31)) and not legacy.valid_on(D(2022, 1, 1))
    assert legacy.registrations == (Period("registration", D(2019, 1, 1), D(2021, 12, 31)),)


def test_suspension_and_cancellation_hold_on_their_days_and_lead_the_reason() -> None:
    suspended = Period("suspension", D(2020, 3, 1), D(2020, 5, 31), note="年检未通过")
    cancelled = Period("cancellation", D(2021, 7, 1), None, note="本人申请")
    c = cert(FIRST, suspended, cancelled)
    assert [paid(c, 2020, m) for m in (2, 3, 5, 6)] == [True, False, False, True]
    assert paid(c, 2021, 6) is True and paid(c, 2021, 7) is False and paid(c, 2021, 12) is False
    march = allowance(person(spell(post=CW), certs=[c]), BOOK, 2020, 3)
    assert "暂停" in march.summary and "年检未通过" in march.summary
    july = allowance(person(spell(post=CW), certs=[c]), BOOK, 2021, 7)
    assert "2021-07-01 注销" in july.summary
    # Never back-paid either: the entitlement knows the same holds.
    assert paid(c, 2020, 4, entitled=True) is False and paid(c, 2021, 8, entitled=True) is False


def test_a_late_verification_entitles_back_to_the_registration_but_not_as_of_then() -> None:
    c = cert(FIRST, verified_on=D(2021, 6, 10))
    assert paid(c, 2021, 5) is False  # as things stood on 31 May
    late = allowance(person(spell(post=CW), certs=[c]), BOOK, 2021, 5)
    assert "2021-06-10 核验通过，晚于 2021-05-31" in late.summary
    owed = allowance(person(spell(post=CW), certs=[c]), BOOK, 2021, 5, entitled=True)
    assert owed.outcome is True and owed.amount == Decimal(100)
    assert "2021-06-10 核验确认" in owed.findings[1].text
    # Before the first registration nothing is owed, whatever the verification.
    later = cert(Period("registration", D(2020, 3, 1), D(2023, 2, 28)), verified_on=D(2021, 6, 10))
    assert paid(later, 2020, 2, entitled=True) is False and paid(later, 2020, 3, entitled=True) is True
    # A pending certificate entitles nothing.
    assert paid(cert(FIRST, status="pending", verified_on=None), 2020, 1, entitled=True) is False


def test_the_lapse_is_named_before_a_late_verification() -> None:
    c = cert(FIRST, verified_on=D(2022, 6, 1))  # verified after the lapse
    gap = allowance(person(spell(post=CW), certs=[c]), BOOK, 2022, 3)
    assert "届满" in gap.summary and "核验通过" not in gap.summary
    within = allowance(person(spell(post=CW), certs=[c]), BOOK, 2021, 3)
    assert "核验通过，晚于" in within.summary and "届满" not in within.summary


@given(
    st.dates(D(2018, 1, 1), D(2026, 12, 31)),
    st.dates(D(2018, 1, 1), D(2026, 12, 31)),
)
def test_valid_is_entitled_and_verified_by_the_day(day: dt.date, verified: dt.date) -> None:
    c = cert(FIRST, RENEWED, Period("suspension", D(2023, 1, 1), D(2023, 2, 28), note="x"), verified_on=verified)
    assert c.valid_on(day) == (c.entitled_on(day) and verified <= day)
    facts = person(spell(post=CW), certs=[c])
    end = month_end(day.year, day.month)
    assert (best_valid_cert(facts, end) is not None) == c.valid_on(end)
