"""Shared schema pieces: pages of results and the enumerations shown to users."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar, cast

from litestar import Response
from pydantic import BaseModel

T = TypeVar("T")

OrgType = Literal["service_org", "grassroots_station", "community", "civil_affairs_institution"]
PostType = Literal["community_worker", "station_social_worker", "service_org_staff", "civil_affairs_staff", "other"]
DutyLevel = Literal["city", "county"]
Education = Literal["below_secondary", "secondary", "associate", "bachelor", "master", "doctor"]
Level = Literal["assistant", "intermediate", "senior"]
VerificationStatus = Literal["pending", "verified", "rejected"]
Sex = Literal["M", "F"]

LABELS: dict[str, str] = {
    "service_org": "社会工作服务机构",
    "grassroots_station": "基层社会工作服务站",
    "community": "城乡社区",
    "civil_affairs_institution": "民政服务机构",
    "community_worker": "社区工作者",
    "station_social_worker": "驻站社工",
    "service_org_staff": "社工机构专职人员",
    "civil_affairs_staff": "民政机构工作人员",
    "other": "其他",
    "city": "市级",
    "county": "县级",
    "below_secondary": "初中及以下",
    "secondary": "高中/中专",
    "associate": "大专",
    "bachelor": "本科",
    "master": "硕士",
    "doctor": "博士",
    "assistant": "助理社会工作师（初级）",
    "intermediate": "社会工作师（中级）",
    "senior": "高级社会工作师（高级）",
    "pending": "待核验",
    "verified": "已核验",
    "rejected": "已驳回",
    "registration": "首次登记",
    "renewal": "再登记",
    "suspension": "暂停登记",
    "cancellation": "注销",
    "M": "男",
    "F": "女",
}


class Page(BaseModel, Generic[T]):
    items: list[T]
    # Opaque keyset cursor: pass it back as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None
    # Counted up to a cap so that a broad search stays cheap; ``total_exact`` is false past it.
    total: int
    total_exact: bool


M = TypeVar("M", bound=BaseModel)


def json_response(model: M, headers: dict[str, str] | None = None) -> Response[M]:
    """``model`` as a JSON answer, serialized by pydantic-core straight to bytes: the same JSON as
    Litestar's own encoding of the model (pydantic's JSON mode), without the Python dictionaries it
    builds first (on the busiest reads). The handler keeps ``Response[Model]`` as its answer type,
    so the API's schema still names the model."""
    body: Any = model.__pydantic_serializer__.to_json(model)
    return cast("Response[M]", Response(body, media_type="application/json", headers=headers))
