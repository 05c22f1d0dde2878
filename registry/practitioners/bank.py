"""A practitioner's bank account for the bank transfer (代发) of allowances.

Part of the record: read masked like the ID number (first 4 and last 4 digits), shown whole only
through the recorded reveal (``POST /api/practitioners/{id}/reveal`` with ``bank_account``),
set by those who may write the record or by the spreadsheet import. Never overwritten: a changed
account is a new row; the person's account is their latest row.
"""

from __future__ import annotations

import datetime as dt
import re

from litestar import Controller, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.audit.service import about, record
from registry.errors import Problems
from registry.identity import mask_id_number
from registry.models import BankAccount
from registry.practitioners.service import get_practitioner

_SEPARATORS = re.compile(r"[\s-]")
_DIGITS = re.compile(r"^[0-9]{8,30}$")


class BankAccountWrite(BaseModel):
    account_number: str = Field(max_length=40, description="银行账号（8–30 位数字，可含空格或连字符）")
    bank_name: str = Field(max_length=60, description="开户银行，如 中国工商银行武汉江岸支行")


class BankAccountRead(BaseModel):
    practitioner_id: int
    account_number_masked: str
    bank_name: str
    since: dt.datetime
    source: str


def clean_account(number: str | None, bank_name: str | None, problems: Problems) -> tuple[str, str] | None:
    """The digits of the account and the bank's name, or the problems (both fields or neither)."""
    digits = _SEPARATORS.sub("", number or "")
    bank = (bank_name or "").strip()
    if not digits and not bank:
        return None
    if not _DIGITS.match(digits):
        problems.add("account_number", "account_number_invalid", "银行账号应为 8–30 位数字（可含空格或连字符）。")
    if len(bank) < 2:
        problems.add("bank_name", "bank_name_required", "请填写开户银行（如 中国工商银行武汉江岸支行）。")
    return (digits, bank) if _DIGITS.match(digits) and len(bank) >= 2 else None


def masked(account: BankAccount) -> BankAccountRead:
    return BankAccountRead(
        practitioner_id=account.practitioner_id,
        account_number_masked=mask_id_number(account.account_number),
        bank_name=account.bank_name,
        since=account.created_at,
        source=account.source,
    )


async def current_account(session: AsyncSession, practitioner_id: int) -> BankAccount | None:
    return (
        await session.scalars(
            select(BankAccount)
            .where(BankAccount.practitioner_id == practitioner_id)
            .order_by(BankAccount.id.desc())
            .limit(1)
        )
    ).first()


async def read_account(session: AsyncSession, actor: Actor, practitioner_id: int) -> BankAccountRead | None:
    await get_practitioner(session, actor, practitioner_id)
    account = await current_account(session, practitioner_id)
    return masked(account) if account else None


async def set_account(
    session: AsyncSession, actor: Actor, practitioner_id: int, data: BankAccountWrite
) -> BankAccountRead:
    person = await get_practitioner(session, actor, practitioner_id, action="write", for_update=True)
    problems = Problems()
    cleaned = clean_account(data.account_number, data.bank_name, problems)
    if cleaned is None and not problems.errors:
        problems.add("account_number", "required", "请填写银行账号和开户银行。")
    problems.raise_if_any()
    assert cleaned is not None
    number, bank = cleaned
    before = await current_account(session, person.id)
    if before is not None and (before.account_number, before.bank_name) == (number, bank):
        return masked(before)  # unchanged: no new row, nothing recorded
    account = BankAccount(
        practitioner_id=person.id, account_number=number, bank_name=bank, source="api", created_by_id=actor.user_id
    )
    session.add(account)
    await session.flush()
    await session.refresh(account)
    await record(
        session,
        actor,
        "create",
        "bank_account",
        account.id,
        # The trail keeps the account masked, as every reader of the record sees it.
        before=masked(before).model_dump(mode="json") if before else None,
        after=masked(account).model_dump(mode="json"),
        **about(person),
    )
    return masked(account)


class BankAccountController(Controller):
    path = "/api/practitioners/{practitioner_id:int}/bank-account"
    tags = ["社工 practitioners"]

    @get("/", summary="代发银行账户（账号已遮蔽；完整账号经 reveal 查看并留痕）")
    async def read(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], practitioner_id: FromPath[int]
    ) -> BankAccountRead | None:
        return await read_account(db_session, actor, practitioner_id)

    @put("/", summary="登记或更换代发银行账户（旧账户保留在历史中）")
    async def write(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        data: JSONBody[BankAccountWrite],
    ) -> BankAccountRead:
        return await set_account(db_session, actor, practitioner_id, data)
