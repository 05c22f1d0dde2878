"""The dry run's kept plan: the fingerprint of what the check looked up ignores the order rows
came in and changes with any value, grant or day; a kept plan is read back as written, and
never for other bytes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from registry.accounts.actor import Actor, Grant
from registry.imports import plans
from registry.imports.check import Lookups, Plan

CLERK = Actor(
    user_id=7, username="c", display_name="c", grants=(Grant(id=1, role="civil_affairs", region_code="420102"),)
)
DAY = dt.date(2026, 12, 2)


def _found(order: int = 1, born: dt.date = dt.date(1990, 1, 1)) -> Lookups:
    people = [("420102199001010011", {"id": 1, "birth_date": born}), ("420102199001010022", {"id": 2, "phone": None})]
    spells = [(1, [{"id": 5, "in_post_from": dt.date(2020, 1, 1)}]), (2, [])]
    return Lookups(people=dict(people[::order]), regions={"420102", "420103"}, spells=dict(spells[::order]))


def test_the_fingerprint_ignores_order_and_sees_every_change() -> None:
    mark = plans.fingerprint(_found(), CLERK, DAY, "abc")
    assert plans.fingerprint(_found(order=-1), CLERK, DAY, "abc") == mark
    assert plans.fingerprint(_found(born=dt.date(1990, 1, 2)), CLERK, DAY, "abc") != mark
    assert plans.fingerprint(_found(), CLERK, DAY + dt.timedelta(days=1), "abc") != mark
    assert plans.fingerprint(_found(), CLERK, DAY, "abd") != mark
    wider = Actor(
        user_id=7, username="c", display_name="c", grants=(Grant(id=1, role="civil_affairs", region_code="420000"),)
    )
    assert plans.fingerprint(_found(), wider, DAY, "abc") != mark
    moved = _found()
    moved.spells[2].append({"id": 6, "in_post_from": dt.date(2021, 1, 1)})
    assert plans.fingerprint(moved, CLERK, DAY, "abc") != mark


def test_a_kept_plan_reads_back_as_written_and_only_for_its_own_file() -> None:
    plan = Plan(rows=1)
    plan.writes["ce"].append(
        {
            "action": "create",
            "sheet": "继续教育",
            "row": 2,
            "activity_date": dt.date(2025, 6, 18),
            "hours": Decimal("6.5"),
        }
    )
    plan.counts["ce"]["created"] = 1
    keys = {"numbers": ["420102199001010011"], "ce": [("420102199001010011", dt.date(2025, 6, 18))], "salaries": []}
    raw = plans.dump(plans.Kept(keys=keys, fingerprint="f", plan=plan), "abc")
    back = plans.load(raw, "abc")
    assert back is not None and back.fingerprint == "f" and back.keys == keys
    assert back.plan.writes == plan.writes and back.plan.counts == plan.counts and back.plan.rows == 1
    assert plans.load(raw, "other") is None
    assert plans.load(b"{not json", "abc") is None
