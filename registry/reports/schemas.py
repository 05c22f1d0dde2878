from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field


class TargetRead(BaseModel):
    """One policy target for the region: the figure the registry has beside the target."""

    rule_id: str
    rule_ref: str
    title: str
    measure: str
    target: Decimal | None
    actual: Decimal | None
    met: bool | None  # None: no data in the registry, or the rule sets no target for this year
    text: str
    citation: str


class OrgShareRead(BaseModel):
    organization_id: int
    name: str
    staff: int
    qualified: int
    share: Decimal | None
    met: bool | None


class RegionFigures(BaseModel):
    region_code: str
    region_name: str
    as_of: date
    practitioners: int
    in_post: int
    certified_by_level: dict[str, int]
    registration_valid_by_level: dict[str, int]
    in_post_by_post_type: dict[str, int]
    organizations_by_type: dict[str, int]
    station_staff: int
    station_staff_qualified: int
    targets: list[TargetRead]
    organizations_share: list[OrgShareRead]


class Tally(BaseModel):
    """Decisions of one question over a region: met, not met, and not judged (no rule applies,
    no data yet, or the year still running)."""

    met: int = 0
    unmet: int = 0
    undecided: int = 0

    def count(self, outcome: bool | None) -> None:
        if outcome is True:
            self.met += 1
        elif outcome is False:
            self.unmet += 1
        else:
            self.undecided += 1

    @property
    def judged(self) -> int:
        return self.met + self.unmet

    @property
    def rate(self) -> Decimal | None:
        """Share met among those judged."""
        return (Decimal(self.met) / self.judged).quantize(Decimal("0.001")) if self.judged else None


class ComplianceRates(BaseModel):
    region_code: str
    as_of: date
    ce_year: int
    salary_year: int
    ce: Tally = Field(default_factory=Tally)
    salary: Tally = Field(default_factory=Tally)


class ProvinceRow(BaseModel):
    """One province on the national page."""

    region_code: str
    region_name: str
    practitioners: int
    in_post: int
    certified: int


class CountryFigures(BaseModel):
    as_of: date
    provinces: list[ProvinceRow]

    @property
    def practitioners(self) -> int:
        return sum(p.practitioners for p in self.provinces)

    @property
    def in_post(self) -> int:
        return sum(p.in_post for p in self.provinces)

    @property
    def certified(self) -> int:
        return sum(p.certified for p in self.provinces)
