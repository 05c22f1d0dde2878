"""The authorization matrix: every API endpoint, called by every role on a record in the role's
scope (county A) and on one outside it (county B), and anonymously.

Out-of-scope records answer 404 (existence does not leak); a record in scope that the role may
see but not change answers 403; no login answers 401. A last test fails when an API route is
added without a row here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from registry.app import create_app
from registry.config import Settings
from tests.scene import ROLES, Scene, Side, build_scene, certificate_number, id_number

ALL = (*ROLES, "anon")
Pair = tuple[int, int]


def per_role(
    admin: Pair, clerk: Pair, payroll: Pair, hr: Pair, self_: Pair, anon: Pair = (401, 401)
) -> dict[str, Pair]:
    return {"admin": admin, "clerk": clerk, "payroll": payroll, "hr": hr, "self": self_, "anon": anon}


def everyone(pair: Pair) -> dict[str, Pair]:
    return per_role(pair, pair, pair, pair, pair)


READ = per_role((200, 200), (200, 404), (200, 404), (200, 404), (200, 404))
WRITE = per_role((403, 403), (200, 404), (403, 404), (200, 404), (403, 404))
CREATE_CHILD = per_role((403, 403), (201, 404), (403, 404), (201, 404), (403, 404))
VERIFY = per_role((403, 403), (200, 404), (403, 404), (403, 404), (403, 404))
SUBMIT_CE = per_role((403, 403), (201, 404), (403, 404), (201, 404), (201, 404))
FIGURES = per_role((200, 200), (200, 403), (200, 403), (403, 403), (403, 403))
ORG_READ = per_role((200, 200), (200, 404), (200, 404), (200, 404), (404, 404))
RUN_READ = per_role((200, 200), (200, 404), (200, 404), (404, 404), (404, 404))
PREPARE = per_role((403, 403), (403, 404), (200, 404), (404, 404), (404, 404))
APPROVE = per_role((403, 403), (200, 404), (403, 404), (404, 404), (404, 404))
BATCH_READ = per_role((403, 403), (200, 404), (200, 404), (403, 403), (403, 403))
ADMIN_ONLY = per_role((200, 200), (403, 403), (403, 403), (403, 403), (403, 403))


@dataclass
class Case:
    method: str
    path: str  # the route as Litestar declares it
    expect: dict[str, Pair]
    body: Callable[[Side, str], Any] | None = None
    # Whose account a {user_id} means on side A: the caller's own (default) or the other user's.
    user_is_other: bool = False
    query: Callable[[Side], dict[str, str]] | None = None
    # Path values other than the defaults (e.g. the approved award for the payment step).
    ids: Callable[[Side], dict[str, object]] | None = None
    # A multipart upload instead of a JSON body.
    files: dict[str, tuple[str, bytes]] | None = None


CASES = [
    # practitioners
    Case("GET", "/api/practitioners", everyone((200, 200))),
    Case(
        "POST",
        "/api/practitioners",
        per_role((403, 403), (201, 422), (403, 403), (201, 422), (403, 403)),
        lambda side, role: {
            "name": "赵新",
            "id_number": id_number(side.region, "19950505"),
            "education": "bachelor",
            "household_region_code": side.region,
            "employment": {"organization_id": side.o, "post_type": "service_org_staff", "in_post_from": "2024-01-01"},
        },
    ),
    Case("GET", "/api/practitioners/{practitioner_id:int}", READ),
    Case("PATCH", "/api/practitioners/{practitioner_id:int}", WRITE, lambda side, role: {"education": "master"}),
    Case(
        "POST",
        "/api/practitioners/{practitioner_id:int}/reveal",
        READ,
        lambda side, role: {"fields": ["id_number"], "reason": "核对"},
    ),
    Case("GET", "/api/practitioners/{practitioner_id:int}/bank-account", READ),
    Case(
        "PUT",
        "/api/practitioners/{practitioner_id:int}/bank-account",
        WRITE,
        lambda side, role: {"account_number": "6222 0202 0011 2233 445", "bank_name": "中国工商银行武汉江岸支行"},
    ),
    Case(
        "GET",
        "/api/practitioners/{practitioner_id:int}/audit",
        per_role((200, 200), (200, 404), (403, 403), (403, 403), (403, 403)),
    ),
    Case(
        "POST",
        "/api/practitioners/{practitioner_id:int}/employments",
        CREATE_CHILD,
        lambda side, role: {
            "organization_id": side.o,
            "post_type": "service_org_staff",
            "in_post_from": "2012-01-01",
            "in_post_to": "2013-12-31",
        },
    ),
    Case("GET", "/api/employments/{employment_id:int}", READ),
    Case("PATCH", "/api/employments/{employment_id:int}", WRITE, lambda side, role: {"in_post_to": "2026-06-30"}),
    Case(
        "POST",
        "/api/practitioners/{practitioner_id:int}/certifications",
        CREATE_CHILD,
        lambda side, role: {"level": "intermediate", "certificate_number": certificate_number(), "exam_year": 2022},
    ),
    Case("GET", "/api/certifications/{certification_id:int}", READ),
    Case("PATCH", "/api/certifications/{certification_id:int}", WRITE, lambda side, role: {"exam_year": 2019}),
    Case("POST", "/api/certifications/{certification_id:int}/verify", VERIFY),
    Case(
        "POST",
        "/api/certifications/{certification_id:int}/periods",
        per_role((403, 403), (201, 404), (403, 404), (403, 404), (403, 404)),
        lambda side, role: {"kind": "cancellation", "start_date": "2026-01-05", "note": "本人申请注销"},
    ),
    Case(
        "POST",
        "/api/certifications/{certification_id:int}/periods/{period_id:int}/corrections",
        per_role((403, 403), (201, 404), (403, 404), (403, 404), (403, 404)),
        lambda side, role: {"end_date": "2025-06-30", "reason": "暂停于 6 月底解除"},
        ids=lambda side: {"period_id": side.period},
    ),
    Case(
        "POST",
        "/api/certifications/{certification_id:int}/reject",
        VERIFY,
        lambda side, role: {"reason": "证书照片不清晰"},
    ),
    # organizations
    Case("GET", "/api/organizations", everyone((200, 200))),
    Case(
        "POST",
        "/api/organizations",
        per_role((201, 201), (201, 422), (403, 403), (403, 403), (403, 403)),
        lambda side, role: {"name": "新设社会工作服务中心", "org_type": "service_org", "region_code": side.region},
    ),
    Case(
        "GET",
        "/api/organizations/{org_id:int}",
        per_role((200, 200), (200, 404), (200, 404), (200, 404), (404, 404)),
    ),
    Case(
        "PATCH",
        "/api/organizations/{org_id:int}",
        per_role((200, 200), (200, 404), (403, 404), (403, 404), (404, 404)),
        lambda side, role: {"name": "更名后的社会工作服务中心"},
    ),
    # reference data: public
    Case("GET", "/api/regions", per_role(*[(200, 200)] * 5, anon=(200, 200))),
    Case("GET", "/api/regions/{code:str}", per_role(*[(200, 200)] * 5, anon=(200, 200))),
    # own account
    Case(
        "POST",
        "/api/login",
        per_role(*[(401, 401)] * 5, anon=(401, 401)),
        lambda side, role: {"username": "user-other", "password": "wrong-password-1"},
    ),
    Case("POST", "/api/logout", everyone((204, 204))),
    Case("GET", "/api/me", everyone((200, 200))),
    Case(
        "POST",
        "/api/me/password",
        everyone((422, 422)),
        lambda side, role: {"current_password": "not-my-password-1", "new_password": "Another-pass-2026"},
    ),
    Case("GET", "/api/tokens", everyone((200, 200))),
    Case("POST", "/api/tokens", everyone((201, 201)), lambda side, role: {"name": "脚本"}),
    Case("DELETE", "/api/tokens/{token_id:int}", per_role((200, 200), *[(200, 404)] * 4)),
    # users (admins)
    Case("GET", "/api/users", ADMIN_ONLY),
    Case(
        "POST",
        "/api/users",
        per_role((201, 201), *[(403, 403)] * 4),
        lambda side, role: {
            "username": f"new-{role}-{side.region}",
            "display_name": "新用户",
            "password": "Welcome-2026-x",
            "grants": [{"role": "civil_affairs", "region_code": side.region}],
        },
    ),
    Case("GET", "/api/users/{user_id:int}", per_role((200, 200), *[(200, 404)] * 4)),
    Case("PATCH", "/api/users/{user_id:int}", ADMIN_ONLY, lambda side, role: {"display_name": "改名"}),
    Case("POST", "/api/users/{user_id:int}/unlock", ADMIN_ONLY),
    Case(
        "POST",
        "/api/users/{user_id:int}/grants",
        per_role((201, 201), *[(403, 403)] * 4),
        lambda side, role: {"role": "org_hr", "organization_id": side.o2},
    ),
    Case(
        "DELETE",
        "/api/users/{user_id:int}/grants/{grant_id:int}",
        per_role((204, 204), *[(403, 403)] * 4),
        user_is_other=True,
    ),
    Case("GET", "/api/users/{user_id:int}/tokens", per_role((200, 200), *[(200, 404)] * 4)),
    Case(
        "POST",
        "/api/users/{user_id:int}/tokens",
        per_role((201, 201), *[(201, 403)] * 4),
        lambda side, role: {"name": "代建令牌"},
    ),
    # audit trail
    Case("GET", "/api/audit-events", per_role((200, 200), (200, 200), (403, 403), (403, 403), (403, 403))),
    # policy catalogue and decisions
    Case("GET", "/api/policies", everyone((200, 200))),
    Case("GET", "/api/policies/{rule_id:str}", everyone((200, 200))),
    Case(
        "POST",
        "/api/policies/{rule_id:str}/versions",
        per_role((201, 201), *[(403, 403)] * 4),
        lambda side, role: {
            "effective_from": "2031-01-01",
            "params": {
                "post_types": ["community_worker"],
                "amounts": {"assistant": "150", "intermediate": "250", "senior": "350"},
                "amount_unit": "元/月",
                "floor": True,
            },
        },
    ),
    Case("GET", "/api/practitioners/{practitioner_id:int}/decisions", READ),
    Case("GET", "/api/regions/{code:str}/figures", FIGURES),
    # continuing education
    Case(
        "POST",
        "/api/practitioners/{practitioner_id:int}/ce-records",
        SUBMIT_CE,
        lambda side, role: {
            "activity_date": "2026-04-01",
            "hours": "6.5",
            "unit": "学时",
            "category": "supervision",
            "provider": "市社工协会",
            "course": "小组督导",
        },
    ),
    Case("GET", "/api/practitioners/{practitioner_id:int}/ce-records", READ),
    Case("GET", "/api/practitioners/{practitioner_id:int}/ce-totals", READ, query=lambda side: {"year": "2026"}),
    Case("GET", "/api/ce-records", per_role((403, 403), (200, 200), (403, 403), (403, 403), (403, 403))),
    Case("GET", "/api/ce-records/{record_id:int}", READ),
    Case("POST", "/api/ce-records/{record_id:int}/verify", VERIFY),
    Case("POST", "/api/ce-records/{record_id:int}/reject", VERIFY, lambda side, role: {"reason": "缺少培训证明"}),
    # salaries
    Case(
        "PUT",
        "/api/salary-benchmarks",
        ADMIN_ONLY,
        lambda side, role: {
            "region_code": side.region,
            "year": 2024,
            "basis": "average_social_wage",
            "amount": "81234.00",
            "source": "统计公报",
        },
    ),
    Case("GET", "/api/salary-benchmarks", everyone((200, 200))),
    Case(
        "POST",
        "/api/practitioners/{practitioner_id:int}/salaries",
        CREATE_CHILD,
        lambda side, role: {"year": 2025, "amount": "6500", "period": "monthly"},
    ),
    Case("GET", "/api/practitioners/{practitioner_id:int}/salaries", READ),
    Case("POST", "/api/salaries/{record_id:int}/verify", VERIFY, ids=lambda side: {"record_id": side.sal}),
    Case(
        "POST",
        "/api/salaries/{record_id:int}/reject",
        VERIFY,
        lambda side, role: {"reason": "与工资表不符"},
        ids=lambda side: {"record_id": side.sal},
    ),
    Case("GET", "/api/organizations/{org_id:int}/salary-report", ORG_READ, query=lambda side: {"year": "2025"}),
    # awards
    Case("GET", "/api/award-programmes", everyone((200, 200)), query=lambda side: {"region": side.region}),
    Case(
        "POST",
        "/api/awards",
        per_role((403, 403), (201, 404), (403, 404), (403, 404), (403, 404)),
        lambda side, role: {"practitioner_id": side.p, "programme": "outstanding_social_worker", "round": 2026},
    ),
    Case("GET", "/api/awards/{award_id:int}", READ),
    Case("POST", "/api/awards/{award_id:int}/approve", VERIFY, lambda side, role: {}),
    Case(
        "POST",
        "/api/awards/{award_id:int}/pay",
        VERIFY,
        lambda side, role: {"paid_on": "2026-11-01"},
        ids=lambda side: {"award_id": side.aw2},
    ),
    Case("POST", "/api/awards/{award_id:int}/reject", VERIFY, lambda side, role: {"reason": "不符合评选条件"}),
    Case("GET", "/api/practitioners/{practitioner_id:int}/awards", READ),
    # payroll
    Case(
        "POST",
        "/api/payroll-runs",
        per_role((403, 403), (403, 403), (201, 422), (403, 403), (403, 403)),
        lambda side, role: {"region_code": side.region, "month": "2026-10"},
    ),
    Case("GET", "/api/payroll-runs", everyone((200, 200))),
    Case(
        "GET",
        "/api/payroll-runs/verify-chain",
        per_role((200, 200), (200, 403), (200, 403), (403, 403), (403, 403)),
        query=lambda side: {"region": side.region},
    ),
    Case("GET", "/api/payroll-runs/{run_id:int}", RUN_READ),
    Case(
        "DELETE", "/api/payroll-runs/{run_id:int}", per_role((403, 403), (403, 404), (204, 404), (404, 404), (404, 404))
    ),
    Case("GET", "/api/payroll-runs/{run_id:int}/lines", RUN_READ),
    Case("GET", "/api/payroll-runs/{run_id:int}/diff", RUN_READ),
    Case("POST", "/api/payroll-runs/{run_id:int}/compute", PREPARE),
    # Allowed for the clerk, then refused for its content (no closed month to correct): 422.
    Case(
        "POST",
        "/api/payroll-runs/{run_id:int}/adjustments",
        per_role((403, 403), (403, 404), (422, 404), (404, 404), (404, 404)),
        lambda side, role: {"practitioner_id": side.p, "corrects_month": "2026-06", "reason": "漏发"},
    ),
    Case("POST", "/api/payroll-runs/{run_id:int}/submit", PREPARE),
    Case("POST", "/api/payroll-runs/{run_id:int}/approve", APPROVE, ids=lambda side: {"run_id": side.run_sub}),
    Case(
        "POST",
        "/api/payroll-runs/{run_id:int}/return",
        APPROVE,
        lambda side, role: {"reason": "金额需复核"},
        ids=lambda side: {"run_id": side.run_sub},
    ),
    Case(
        "POST",
        "/api/payroll-runs/{run_id:int}/close",
        per_role((403, 403), (200, 404), (200, 404), (404, 404), (404, 404)),
        ids=lambda side: {"run_id": side.run_app},
    ),
    Case("GET", "/api/payroll-runs/{run_id:int}/export.csv", RUN_READ),
    Case("GET", "/api/payroll-runs/{run_id:int}/export.xlsx", RUN_READ),
    Case("GET", "/api/payroll-runs/{run_id:int}/bank-list/missing", RUN_READ),
    Case(
        "GET",
        "/api/payroll-runs/{run_id:int}/bank-list.csv",
        RUN_READ,
        query=lambda side: {"reason": "报财务代发"},
        ids=lambda side: {"run_id": side.run_app},
    ),
    Case(
        "GET",
        "/api/payroll-runs/{run_id:int}/bank-list.xlsx",
        RUN_READ,
        query=lambda side: {"reason": "报财务代发"},
        ids=lambda side: {"run_id": side.run_app},
    ),
    # certificates (the award certificate of p; issuing the same again returns it, 200)
    Case(
        "POST",
        "/api/certificates",
        per_role((403, 403), (200, 404), (403, 404), (403, 404), (200, 404)),
        lambda side, role: {"practitioner_id": side.p, "kind": "award", "award_id": side.aw2},
    ),
    Case("GET", "/api/certificates/{serial:str}", READ),
    Case("GET", "/api/certificates/{serial:str}/pdf", READ),
    Case("POST", "/api/certificates/{serial:str}/revoke", VERIFY, lambda side, role: {"reason": "登记信息有误"}),
    Case(
        "POST",
        "/api/certificates/{serial:str}/reissue",
        # Allowed, and refused as the record has not changed since issue (409).
        per_role((403, 403), (409, 404), (403, 404), (403, 404), (409, 404)),
        lambda side, role: {"reason": "补办"},
    ),
    Case("GET", "/api/practitioners/{practitioner_id:int}/certificates", READ),
    Case(
        "GET",
        "/api/verify/{serial:str}",
        per_role((200, 200), (200, 200), (200, 200), (200, 200), (200, 200), (200, 200)),
    ),
    Case(
        "POST",
        "/api/certificate-batches",
        per_role((403, 403), (202, 422), (202, 422), (403, 403), (403, 403)),
        lambda side, role: {"region_code": side.region, "kind": "allowance", "period": "2026-10"},
    ),
    Case("GET", "/api/certificate-batches/{batch_id:int}", BATCH_READ),
    Case(
        "GET",
        "/api/certificate-batches/{batch_id:int}/download",
        per_role((403, 403), (409, 404), (409, 404), (403, 403), (403, 403)),
    ),
    # the public register: anyone may look up (the answer is the same shape found or not); the
    # daily counts are for those who read the audit trail
    Case(
        "POST",
        "/api/register",
        per_role((200, 200), (200, 200), (200, 200), (200, 200), (200, 200), (200, 200)),
        lambda side, role: {"name": "赵新", "certificate_number": "S00000000"},
    ),
    Case("GET", "/api/register/lookups", per_role((200, 200), (200, 200), (403, 403), (403, 403), (403, 403))),
    # reminders: each user's own (a reminder that is not theirs is not found); the list of
    # people to chase for those who keep the records
    Case("GET", "/api/reminders", everyone((200, 200))),
    Case("GET", "/api/reminders/unread", everyone((200, 200))),
    Case("POST", "/api/reminders/{reminder_id:int}/read", everyone((404, 404)), ids=lambda side: {"reminder_id": 1}),
    Case("POST", "/api/reminders/read-all", everyone((200, 200))),
    Case("PUT", "/api/reminders/email", everyone((200, 200)), lambda side, role: {"address": ""}),
    Case("GET", "/api/reminders/chase.csv", per_role((403, 403), (200, 200), (403, 403), (200, 200), (403, 403))),
    # CE audit samples: drawn by a region's civil-affairs staff; a sample that is not there (or
    # not in scope) is not found
    Case("GET", "/api/ce-audits", everyone((200, 200))),
    Case(
        "POST",
        "/api/ce-audits",
        per_role((403, 403), (201, 403), (403, 403), (403, 403), (403, 403)),
        lambda side, role: {"year": 2025, "region_code": side.region, "seed": "matrix"},
    ),
    Case("GET", "/api/ce-audits/{sample_id:int}", everyone((404, 404)), ids=lambda side: {"sample_id": 2**62}),
    Case("GET", "/api/ce-audits/{sample_id:int}/report", everyone((404, 404)), ids=lambda side: {"sample_id": 2**62}),
    Case(
        "POST",
        "/api/ce-audits/{sample_id:int}/outcomes",
        everyone((404, 404)),
        lambda side, role: {"ce_record_id": side.ce, "outcome": "upheld"},
        ids=lambda side: {"sample_id": 2**62},
    ),
    Case(
        "POST",
        "/api/ce-audits/{sample_id:int}/records/{record_id:int}/evidence",
        everyone((404, 404)),
        ids=lambda side: {"sample_id": 2**62, "record_id": side.ce},
        files={"file": ("a.pdf", b"%PDF-1.4")},
    ),
    # metrics: not per role but per network (the test client is on the loopback) or token;
    # refusals from elsewhere are in tests/test_metrics.py
    Case("GET", "/metrics", per_role((200, 200), (200, 200), (200, 200), (200, 200), (200, 200), (200, 200))),
    # spreadsheet imports: an import is its uploader's (admins read them); a queued one cannot be
    # committed yet (409)
    Case("GET", "/api/imports/template.xlsx", per_role((403, 403), (200, 200), (403, 403), (200, 200), (403, 403))),
    Case(
        "POST",
        "/api/imports",
        per_role((403, 403), (202, 202), (403, 403), (202, 202), (403, 403)),
        files={"file": ("人员.csv", "姓名,公民身份号码,学历\r\n".encode())},
    ),
    Case("GET", "/api/imports/{import_id:int}", per_role((200, 200), (200, 404), (403, 403), (404, 404), (403, 403))),
    Case(
        "POST",
        "/api/imports/{import_id:int}/commit",
        per_role((403, 403), (409, 404), (403, 403), (404, 404), (403, 403)),
    ),
]


def _url(case: Case, scene: Scene, side_name: str, role: str) -> str:
    side = scene.a if side_name == "A" else scene.b
    assert scene.other is not None
    own = side_name == "A" and role != "anon" and not case.user_is_other
    values = {
        "practitioner_id": side.p,
        "employment_id": side.e,
        "certification_id": side.c,
        "org_id": side.o,
        "code": side.region,
        "user_id": scene.users[role].id if own else scene.other.id,
        "token_id": scene.spare_tokens[role] if own else scene.other_token_id,
        "grant_id": scene.other_grants[0 if side_name == "A" else 1],
        "rule_id": "HB-ALW-100-200",
        "record_id": side.ce,
        "award_id": side.aw,
        "run_id": side.run,
        "serial": side.cert,
        "batch_id": side.batch,
        "import_id": side.imp,
    }
    if case.ids is not None:
        values.update(case.ids(side))
    return re.sub(r"\{(\w+):\w+\}", lambda m: str(values[m.group(1)]), case.path)


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    return await build_scene(session)


@pytest.mark.parametrize("role", ALL)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_matrix(anonymous: httpx.AsyncClient, scene: Scene, case: Case, role: str) -> None:
    got = []
    for side_name in ("A", "B"):
        side = scene.a if side_name == "A" else scene.b
        response = await anonymous.request(
            case.method,
            _url(case, scene, side_name, role),
            headers=scene.headers(role),
            params=case.query(side) if case.query else None,
            json=case.body(side, role) if case.body else None,
            files=case.files,
        )
        got.append(response.status_code)
        if response.status_code >= 400:
            body = response.json()
            # Every refusal is a problem with a stable code, whatever the reason.
            assert body["status"] == response.status_code and body["code"], body
    assert tuple(got) == case.expect[role], f"{role}: {case.method} {case.path} -> {got}"


def test_every_api_route_is_in_the_matrix() -> None:
    app = create_app(Settings(), database_url="postgresql+asyncpg://unused/unused")
    routes = {
        (method, route.path)
        for route in app.routes
        if route.path.startswith("/api") or route.path == "/metrics"
        for method in getattr(route, "methods", ())
        if method not in ("HEAD", "OPTIONS")
    }
    covered = {(c.method, c.path) for c in CASES}
    assert routes - covered == set(), "API routes missing from the authorization matrix"
    assert covered - routes == set(), "matrix rows for routes that do not exist"


async def test_lists_and_search_show_only_records_in_scope(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    a, b = scene.a, scene.b
    visible_people = {
        "admin": {a.p, a.p2, b.p, b.p2},
        "clerk": {a.p, a.p2},
        "payroll": {a.p, a.p2},
        "hr": {a.p},
        "self": {a.p},
    }
    visible_orgs = {
        "admin": {a.o, a.o2, b.o, b.o2},
        "clerk": {a.o, a.o2},
        "payroll": {a.o, a.o2},
        "hr": {a.o},
        "self": set(),
    }
    for role in ROLES:
        headers = scene.headers(role)
        for params in (
            {},
            {"name": "王明"},
            {"region": "430000"},
            {"organization_id": str(b.o)},
            {"level": "assistant"},
        ):
            page = (await anonymous.get("/api/practitioners", params=params, headers=headers)).json()
            ids = {item["id"] for item in page["items"]}
            assert ids <= visible_people[role], (role, params, ids)
            assert page["total"] == len(ids)
        everyone_visible = (await anonymous.get("/api/practitioners", params={"limit": 200}, headers=headers)).json()
        assert {item["id"] for item in everyone_visible["items"]} == visible_people[role], role
        # The person search by a name both counties share finds only one's own county.
        named = (await anonymous.get("/api/practitioners", params={"name": "王明"}, headers=headers)).json()
        assert {item["id"] for item in named["items"]} == visible_people[role] & {a.p, b.p}, role
        orgs = (await anonymous.get("/api/organizations", params={"limit": 200}, headers=headers)).json()
        assert {o["id"] for o in orgs["items"]} == visible_orgs[role], role
        assert orgs["total"] == len(visible_orgs[role])


async def test_audit_list_shows_only_events_of_the_clerks_region(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    page = (await anonymous.get("/api/audit-events", params={"limit": 200}, headers=scene.headers("clerk"))).json()
    assert page["items"], "the scene's writes are audited"
    assert {e["region_code"] for e in page["items"]} == {scene.a.region}
    everything = (
        await anonymous.get("/api/audit-events", params={"limit": 200}, headers=scene.headers("admin"))
    ).json()
    assert {scene.a.region, scene.b.region} <= {e["region_code"] for e in everything["items"]}
