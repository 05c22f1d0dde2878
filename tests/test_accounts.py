"""Logging in (API and page), throttling, CSRF, tokens, masking and reveal, "my record"."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.models import ApiToken, AuditEvent, User
from tests.accounts import PASSWORD
from tests.problems import assert_problem
from tests.scene import Scene, build_scene


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    return await build_scene(session)


async def api_login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/login", json={"username": username, "password": password})


async def page_login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, next_url: str = ""
) -> httpx.Response:
    form = await client.get("/login", params={"next": next_url} if next_url else None)
    assert form.status_code == 200
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert token is not None
    return await client.post(
        "/login",
        data={"username": username, "password": password, "_csrf": token.group(1), "next": next_url},
    )


# --- throttling -----------------------------------------------------------------------------------


async def test_wrong_passwords_back_off_instead_of_locking(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    for _ in range(6):
        response = await api_login(anonymous, "user-clerk", "wrong-password-1")
        assert_problem(response, 401, "login_failed")
    # Past five failures from this address the next attempt must wait; even the right password.
    body = assert_problem(await api_login(anonymous, "user-clerk"), 429, "login_throttled")
    assert "过于频繁" in body["detail"]
    user = await session.get(User, scene.users["clerk"].id)
    assert user is not None
    await session.refresh(user)
    assert user.failed_logins == 6
    assert user.locked_until is None  # no lock: a back-off that ends by itself
    failures = await session.scalar(
        select(func.count()).where(AuditEvent.action == "login_failed", AuditEvent.entity_id == str(user.id))
    )
    assert failures == 6
    # Another account is not affected.
    assert (await api_login(anonymous, "user-payroll")).status_code == 200
    # An admin can clear the back-off at once.
    unlocked = await anonymous.post(f"/api/users/{user.id}/unlock", headers=scene.headers("admin"))
    assert unlocked.status_code == 200
    assert (await api_login(anonymous, "user-clerk")).status_code == 200


async def test_a_success_resets_the_count(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    for _ in range(5):
        assert (await api_login(anonymous, "user-hr", "wrong-password-1")).status_code == 401
    assert (await api_login(anonymous, "user-hr")).status_code == 200
    for _ in range(5):
        assert (await api_login(anonymous, "user-hr", "wrong-password-1")).status_code == 401
    assert (await api_login(anonymous, "user-hr")).status_code == 200


async def test_the_page_login_is_throttled_too(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    for _ in range(6):
        response = await page_login(anonymous, "user-self", "wrong-password-1")
    assert response.status_code == 401
    response = await page_login(anonymous, "user-self")
    assert response.status_code == 429
    assert "过于频繁" in response.text and int(response.headers["retry-after"]) >= 1


async def test_unknown_user_gets_the_same_answer(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    unknown = await api_login(anonymous, "no-such-user")
    wrong = await api_login(anonymous, "user-clerk", "wrong-password-1")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]


# --- CSRF -----------------------------------------------------------------------------------------


async def test_login_form_without_csrf_token_is_refused(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    response = await anonymous.post("/login", data={"username": "user-clerk", "password": PASSWORD})
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert "registry_session" not in response.cookies


async def test_session_form_post_without_csrf_token_is_refused(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    response = await page_login(anonymous, "user-clerk")
    assert response.status_code == 303
    assert anonymous.cookies.get("registry_session")
    # A forged cross-site form: the browser sends the cookie but cannot know the token.
    forged = await anonymous.post("/logout", data={})
    assert forged.status_code == 403
    assert (await anonymous.get("/api/me")).status_code == 200, "still logged in"
    wrong = await anonymous.post("/logout", data={"_csrf": "guessed"})
    assert wrong.status_code == 403
    me_page = await anonymous.get("/me")
    token = re.search(r'name="_csrf" value="([^"]+)"', me_page.text)
    assert token is not None
    out = await anonymous.post("/logout", data={"_csrf": token.group(1)})
    assert out.status_code == 303
    assert (await anonymous.get("/api/me")).status_code == 401


async def test_cookie_authenticated_api_writes_need_the_csrf_header(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    login = await api_login(anonymous, "user-clerk")
    csrf = login.json()["csrf_token"]
    url = f"/api/practitioners/{scene.a.p}"
    assert_problem(await anonymous.patch(url, json={"education": "master"}), 403, "csrf_failed")
    assert (await anonymous.get(url)).json()["education"] == "bachelor"
    ok = await anonymous.patch(url, json={"education": "master"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    # Reads need no token.
    assert (await anonymous.get("/api/practitioners")).status_code == 200


async def test_bearer_token_writes_need_no_csrf_token(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    response = await anonymous.patch(
        f"/api/practitioners/{scene.a.p}", json={"education": "master"}, headers=scene.headers("clerk")
    )
    assert response.status_code == 200


# --- pages --------------------------------------------------------------------------------------


async def test_pages_send_anonymous_browsers_to_login_and_back(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    response = await anonymous.get("/me")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fme"
    response = await page_login(anonymous, "user-self", next_url="/me")
    assert response.status_code == 303 and response.headers["location"] == "/me"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")


async def test_login_does_not_redirect_off_site(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    response = await page_login(anonymous, "user-clerk", next_url="//evil.example/")
    assert response.headers["location"] == "/work"  # the inbox (a practitioner goes on to /me)


async def test_wrong_password_on_the_page_shows_a_chinese_message(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    response = await page_login(anonymous, "user-clerk", "wrong-password-1")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert 'value="user-clerk"' in response.text


async def test_practitioner_sees_only_their_own_record(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    await page_login(anonymous, "user-self")
    page = await anonymous.get("/me")
    assert page.status_code == 200
    assert "我的档案" in page.text
    assert "荷塘王明" in page.text
    assert "荷塘李芳" not in page.text and "江岸" not in page.text
    assert "4302**********" in page.text  # the ID number, masked
    me = (await anonymous.get("/api/me")).json()
    assert me["practitioner"]["id"] == scene.a.p
    assert [c["id"] for c in me["practitioner"]["certifications"]] == [scene.a.c]
    assert "id_number" not in me["practitioner"]
    # Colleagues' records are out of reach.
    assert (await anonymous.get(f"/api/practitioners/{scene.a.p2}")).status_code == 404
    search = (await anonymous.get("/api/practitioners", params={"limit": 200})).json()
    assert [p["id"] for p in search["items"]] == [scene.a.p]


async def test_staff_me_has_no_practitioner_record(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    me = (await anonymous.get("/api/me", headers=scene.headers("clerk"))).json()
    assert me["practitioner"] is None
    assert me["user"]["grants"][0]["role"] == "civil_affairs"


# --- tokens ---------------------------------------------------------------------------------------


async def test_token_lifecycle(anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene) -> None:
    created = await anonymous.post(
        "/api/tokens", json={"name": "报表", "expires_in_days": 30}, headers=scene.headers("clerk")
    )
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith("rgt_") and token["prefix"] == token["token"][:10]
    stored = await session.get(ApiToken, token["id"])
    assert stored is not None and token["token"] not in (stored.token_hash, stored.prefix)
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert (await anonymous.get("/api/me", headers=headers)).status_code == 200
    listed = (await anonymous.get("/api/tokens", headers=headers)).json()
    assert "token" not in listed[0]
    assert (await anonymous.delete(f"/api/tokens/{token['id']}", headers=headers)).status_code == 200
    assert_problem(await anonymous.get("/api/me", headers=headers), 401, "token_invalid")


async def test_expired_token_and_disabled_user_are_refused(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == scene.users["hr"].id)
        .values(expires_at=clock.now() - dt.timedelta(seconds=1))
    )
    await session.commit()
    assert_problem(await anonymous.get("/api/me", headers=scene.headers("hr")), 401, "token_invalid")
    disabled = await anonymous.patch(
        f"/api/users/{scene.users['payroll'].id}", json={"active": False}, headers=scene.headers("admin")
    )
    assert disabled.status_code == 200
    assert_problem(await anonymous.get("/api/me", headers=scene.headers("payroll")), 401, "token_invalid")
    assert_problem(await api_login(anonymous, "user-payroll"), 403, "account_disabled")


async def test_weak_password_is_refused(anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene) -> None:
    before = await session.scalar(select(func.count()).select_from(User))
    for password, code in (
        ("short1", "password_too_short"),
        ("abcdefghijkl", "password_too_simple"),
        ("new-user-2026", "password_contains_username"),
    ):
        response = await anonymous.post(
            "/api/users",
            json={"username": "new-user", "display_name": "新", "password": password},
            headers=scene.headers("admin"),
        )
        assert_problem(response, 422, code, "password")
    assert await session.scalar(select(func.count()).select_from(User)) == before


async def test_grant_scope_must_match_the_role(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    admin = scene.headers("admin")
    uid = scene.users["payroll"].id
    assert_problem(
        await anonymous.post(f"/api/users/{uid}/grants", json={"role": "civil_affairs"}, headers=admin),
        422,
        "grant_scope_required",
        "region_code",
    )
    assert_problem(
        await anonymous.post(
            f"/api/users/{uid}/grants", json={"role": "civil_affairs", "region_code": "429999"}, headers=admin
        ),
        422,
        "region_unknown",
        "region_code",
    )
    assert_problem(
        await anonymous.post(
            f"/api/users/{uid}/grants", json={"role": "practitioner", "practitioner_id": scene.a.p}, headers=admin
        ),
        409,
        "practitioner_has_account",
    )


# --- masking and reveal ---------------------------------------------------------------------------


async def test_lists_and_records_are_masked_and_reveal_is_recorded(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    headers = scene.headers("payroll")
    search = (await anonymous.get("/api/practitioners", headers=headers)).json()
    detail = (await anonymous.get(f"/api/practitioners/{scene.a.p}", headers=headers)).json()
    full = re.compile(r"\d{17}[\dX]")
    assert not full.search(str(search)) and not full.search(str(detail))
    assert "138****8000" in str(detail)
    assert "13800138000" not in str(search) + str(detail)

    before = await session.scalar(select(func.count()).where(AuditEvent.action == "reveal"))
    revealed = await anonymous.post(
        f"/api/practitioners/{scene.a.p}/reveal",
        json={"fields": ["id_number", "phone"], "reason": "银行代发核对"},
        headers={**headers, "X-Request-ID": "reveal-1"},
    )
    assert revealed.status_code == 200
    body = revealed.json()
    assert full.fullmatch(body["id_number"]) and body["phone"] == "13800138000"
    assert body["id_number"].endswith(detail["id_number_masked"][-4:])
    event = (
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "reveal").order_by(AuditEvent.id.desc()))
    ).first()
    assert await session.scalar(select(func.count()).where(AuditEvent.action == "reveal")) == (before or 0) + 1
    assert event is not None
    assert (event.actor_user_id, event.entity_id, event.request_id) == (
        scene.users["payroll"].id,
        str(scene.a.p),
        "reveal-1",
    )
    assert event.detail == {"fields": ["id_number", "phone"], "reason": "银行代发核对"}


# --- command line ---------------------------------------------------------------------------------


def test_users_create_on_the_command_line(databases: object) -> None:
    """The first admin comes from ``registry users create``; then they log in through the app."""
    from tests.conftest import TestDatabases

    assert isinstance(databases, TestDatabases)
    url = databases.fresh("registry_cli_test")
    env = databases.env(url)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "users",
            "create",
            "first-admin",
            "--name",
            "管理员",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="Admin-pass-2026\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "已创建用户 first-admin" in run.stdout
    weak = subprocess.run(
        [sys.executable, "-m", "registry.cli", "users", "create", "second", "--role", "admin", "--password-stdin"],
        input="weak\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert weak.returncode == 1 and "password_too_short" in weak.stderr
    token = subprocess.run(
        [sys.executable, "-m", "registry.cli", "users", "token", "first-admin"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout.strip()
    assert token.startswith("rgt_")

    import asyncio

    from registry.app import create_app
    from registry.config import Settings

    async def check() -> None:
        app = create_app(Settings(), database_url=databases.service(url))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            me = (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).json()
            assert me["user"]["username"] == "first-admin"
            assert me["user"]["grants"][0]["role"] == "admin"
            assert (await api_login(client, "first-admin", "Admin-pass-2026")).status_code == 200
        await app.on_shutdown[0]()

    asyncio.run(check())


async def test_my_page_explains_the_decisions_in_chinese(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    await anonymous.post(f"/api/certifications/{scene.a.c}/verify", headers=scene.headers("clerk"))
    await page_login(anonymous, "user-self")
    page = await anonymous.get("/me")
    assert page.status_code == 200
    assert "政策判定" in page.text and "继续教育" in page.text
    # The rule by its document in words; its id only in staff views and the API.
    assert "ZZ-AWARD" not in page.text and "株民〔2018〕30号" in page.text
    assert "所在地区在该月没有职业津贴规定" in page.text  # Hunan pays no allowance under these rules
    assert "个案工作实务" in page.text  # the scene's CE record, pending
    me = (await anonymous.get("/api/me")).json()
    assert me["decisions"]["practitioner_id"] == scene.a.p
    assert all(f["citation"] for d in me["decisions"]["decisions"] for f in d["findings"])
    assert any(f["rule_ref"].startswith("ZZ-AWARD") for d in me["decisions"]["decisions"] for f in d["findings"])
