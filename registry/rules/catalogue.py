"""Reading the shipped catalogue file."""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from typing import Any

from registry.rules.model import PolicyRule

KINDS = (
    "allowance",
    "registration",
    "ce_cycle",
    "ce_annual",
    "ce_supervision_training",
    "ce_cumulative",
    "salary",
    "award",
    "hiring",
    "post_level",
    "org_share",
    "station_share",
    "station_hours",
    "region_target",
    "report_only",
    "back_pay",
    "reminder",
)
TRUST = ("official", "draft", "secondary", "product_default")


def load_catalogue_data() -> dict[str, Any]:
    with resources.files("registry.rules").joinpath("catalogue.toml").open("rb") as f:
        return tomllib.load(f)


def rule_from_entry(entry: dict[str, Any]) -> PolicyRule:
    def day(value: object) -> dt.date | None:
        if value is None:
            return None
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value))

    start = day(entry["effective_from"])
    assert start is not None
    return PolicyRule(
        id=entry["id"],
        version=int(entry["version"]),
        kind=entry["kind"],
        title=entry["title"],
        region_code=entry.get("region_code"),
        effective_from=start,
        effective_to=day(entry.get("effective_to")),
        params=entry.get("params", {}),
        issuer=entry["issuer"],
        document_title=entry["document_title"],
        document_number=entry["document_number"],
        clause=entry["clause"],
        source=entry["source"],
        trust=entry["trust"],
        note=entry.get("note"),
        alias=entry.get("alias"),
    )


def shipped_rules() -> list[PolicyRule]:
    return [rule_from_entry(e) for e in load_catalogue_data()["rule"]]
