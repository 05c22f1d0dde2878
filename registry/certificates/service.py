"""Issuing, verifying, revoking and reissuing eligibility certificates.

A certificate is a signed snapshot: the decision the registry made at issue time, with its
findings, figures and citations, the holder's name and masked ID number, and the issuer. The row
is never changed; revocation is a row of its own, and a reissue is a new certificate that points
at the one it supersedes.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from stdnum.iso7064 import mod_37_36

from registry import bounds, clock
from registry.accounts.actor import Actor, Forbidden
from registry.audit.service import about, record
from registry.certificates import content, pool, render
from registry.certificates.schemas import (
    CertificateRead,
    IssueRequest,
    KeyRead,
    Kind,
    PublicStatus,
    RevokeRequest,
)
from registry.certificates.signing import (
    Signer,
    canonical,
    decode_payload,
    load_public_pem,
    payload_matches,
    short_token,
    signature_ok,
)
from registry.config import Settings
from registry.errors import Conflict, FieldError, InvalidInput, NotFound, RegistryError
from registry.identity import mask_id_number, mask_name
from registry.models import (
    AwardRow,
    CertificateRevocation,
    IssuedCertificate,
    Organization,
    Practitioner,
    Region,
    SigningKey,
)
from registry.practitioners.service import get_practitioner
from registry.rules import evaluate
from registry.rules.facts import load_facts
from registry.rules.model import Decision, Facts, Finding, RuleBook
from registry.rules.plain import plain
from registry.rules.service import rule_book

SERIAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: no I, L, O, U to misread
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})

STATUS_LABELS = {
    "valid": "有效",
    "revoked": "已撤销",
    "superseded": "已被替代",
    "expired": "已过期",
    "invalid": "签名无效",
}


class NotEligible(Conflict):
    default_code = "not_eligible"
    title = "不符合出具条件"


@dataclass
class CertContext:
    """What issuing needs beyond the database: the signing key and where verification lives."""

    settings: Settings
    _signer: Signer | None = field(default=None, repr=False)

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = Signer.load_or_create(self.settings.key_path)
        return self._signer

    def verify_url(self, serial: str) -> str:
        return f"{self.settings.base_url}/verify/{serial}"


# --- serials ------------------------------------------------------------------------------------


def new_serial(year: int) -> str:
    """Drawn again until the check character, too, is in the alphabet: a serial never holds
    I, L, O or U, so a clerk who types 0 for O or 1 for I still gets the right one."""
    while True:
        body = "".join(secrets.choice(SERIAL_ALPHABET) for _ in range(9))
        check = mod_37_36.calc_check_digit(f"{year}{body}")
        if check in SERIAL_ALPHABET:
            return f"SW{year}-{body}{check}"


_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−", "-"))


def normalize_serial(raw: str) -> str:
    """The serial as typed (any case, spaces) → canonical; a wrong check character is refused."""
    # Typed with a Chinese input method: full-width letters, digits and dashes.
    text = "".join(unicodedata.normalize("NFKC", raw).split()).upper().translate(_DASHES)
    if len(text) == 16 and text[6] != "-":
        text = text[:6] + "-" + text[6:]
    if len(text) == 17:
        text = text[:7] + text[7:].translate(_LOOK_ALIKES)
    if (
        len(text) != 17
        or not text.startswith("SW")
        or text[6] != "-"
        or not bounds.digits(text[2:6])
        or not text[7:].isalnum()
        or not mod_37_36.is_valid(text[2:6] + text[7:])
    ):
        raise NotFound("证明编号有误（格式或校验位不符），请核对后重新输入。", code="serial_invalid")
    return text


# --- reading ------------------------------------------------------------------------------------


def _successor() -> Any:
    later = aliased(IssuedCertificate)
    return select(later.serial).where(later.supersedes_id == IssuedCertificate.id).scalar_subquery()


async def _load(
    session: AsyncSession, serial: str
) -> tuple[IssuedCertificate, CertificateRevocation | None, str | None]:
    row = (
        await session.execute(
            select(IssuedCertificate, CertificateRevocation, _successor().label("successor"))
            .outerjoin(CertificateRevocation, CertificateRevocation.certificate_id == IssuedCertificate.id)
            .where(IssuedCertificate.serial == serial)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"没有编号为 {serial} 的证明。", code="certificate_not_found")
    return row[0], row[1], row[2]


def _status(cert: IssuedCertificate, revocation: CertificateRevocation | None, successor: str | None) -> str:
    if revocation is not None:
        return "revoked"
    if successor is not None:
        return "superseded"
    if cert.valid_until < clock.today():
        return "expired"
    return "valid"


def _read(
    cert: IssuedCertificate, revocation: CertificateRevocation | None, successor: str | None, ctx: CertContext
) -> CertificateRead:
    snap = json.loads(cert.snapshot)
    status = _status(cert, revocation, successor)
    return CertificateRead(
        id=cert.id,
        serial=cert.serial,
        kind=cert.kind,
        kind_label=snap["kind_label"],
        period=cert.period,
        practitioner_id=cert.practitioner_id,
        holder_name=snap["holder"]["name"],
        headline=snap["headline"],
        issued_at=cert.issued_at,
        valid_until=cert.valid_until,
        status=status,
        status_label=STATUS_LABELS[status],
        revoked_reason=revocation.reason if revocation else None,
        revoked_at=revocation.revoked_at if revocation else None,
        superseded_by=successor,
        supersedes=snap.get("supersedes"),
        verify_url=ctx.verify_url(cert.serial),
        decision=snap["decision"],
        facts=[(k, v) for k, v in snap["facts"]],
    )


async def get_certificate(session: AsyncSession, actor: Actor, ctx: CertContext, serial: str) -> CertificateRead:
    cert, revocation, successor = await _load(session, normalize_serial(serial))
    await get_practitioner(session, actor, cert.practitioner_id)  # 404 outside the caller's scope
    return _read(cert, revocation, successor, ctx)


async def list_for_practitioner(
    session: AsyncSession, actor: Actor, ctx: CertContext, practitioner_id: int
) -> list[CertificateRead]:
    await get_practitioner(session, actor, practitioner_id)
    rows = (
        await session.execute(
            select(IssuedCertificate, CertificateRevocation, _successor().label("successor"))
            .outerjoin(CertificateRevocation, CertificateRevocation.certificate_id == IssuedCertificate.id)
            .where(IssuedCertificate.practitioner_id == practitioner_id)
            .order_by(IssuedCertificate.id.desc())
        )
    ).all()
    return [_read(c, r, s, ctx) for c, r, s in rows]


# --- what a certificate states -------------------------------------------------------------------


def parse_period(kind: str, period: str | None, today: dt.date) -> tuple[str, dt.date]:
    """The period in canonical form and the day it is judged on; impossible periods refused."""

    def bad(message: str) -> RegistryError:
        return InvalidInput.on_field("period", "period_invalid", message)

    def bounded(year: int) -> None:
        if problem := bounds.year_problem("period", year):
            raise InvalidInput(problem.message, code=problem.code, errors=[problem])

    if kind == "allowance":
        try:
            month = dt.datetime.strptime(period or "", "%Y-%m").date()
        except ValueError:
            raise bad("津贴证明的期间应为月份，格式 YYYY-MM，例如 2026-10。") from None
        bounded(month.year)
        cutoff = evaluate.month_end(month.year, month.month)
        if cutoff >= today:
            raise bad(f"{month:%Y-%m} 的截止日（月末）尚未过去，还不能证明该月的津贴资格。")
        return f"{month:%Y-%m}", cutoff
    if kind in ("ce", "salary"):
        if not period or not bounds.digits(period) or len(period) != 4:
            raise bad("期间应为年度，格式 YYYY，例如 2025。")
        year = int(period)
        bounded(year)
        if kind == "salary" and year >= today.year:
            raise bad(f"{year} 年尚未结束，薪酬对标须在年度结束后证明。")
        if year > today.year:
            raise bad("不能证明未来年度。")
        return str(year), min(dt.date(year, 12, 31), today)
    if kind == "registration":
        try:
            day = dt.date.fromisoformat(period) if period else today
        except ValueError:
            raise bad("日期格式应为 YYYY-MM-DD。") from None
        bounded(day.year)
        if day > today:
            raise bad("不能证明未来日期的登记状态。")
        return str(day), day
    raise bad("未知的证明种类。")


async def _issuer(session: AsyncSession, region_code: str) -> dict[str, str]:
    """The civil-affairs bureau of the holder's county (or city, or province)."""
    rows = {
        r.code: r
        for r in (
            await session.scalars(
                select(Region).where(Region.code.in_({region_code, region_code[:4] + "00", region_code[:2] + "0000"}))
            )
        ).all()
    }
    own = rows.get(region_code)
    if own is None:
        return {"name": "民政部门", "region_code": region_code}
    if own.level == 1:
        name = own.name + "民政厅"
    elif own.level == 2:
        name = own.name + "民政局"
    else:
        city = rows.get(region_code[:4] + "00")
        city_name = city.name if city and city.name not in ("市辖区", "县", "省直辖县级行政区划") else ""
        name = city_name + own.name + "民政局"
    return {"name": name, "region_code": region_code}


async def _org_names(session: AsyncSession, facts: Facts) -> dict[int, str]:
    ids = {s.organization_id for s in facts.spells}
    if not ids:
        return {}
    return dict(
        (await session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids)))).all()
    )


async def _award_content(
    session: AsyncSession, person: Practitioner, book: RuleBook, award_id: int | None, today: dt.date
) -> tuple[str, content.Content]:
    if award_id is None:
        raise InvalidInput.on_field("award_id", "award_required", "奖励证明须指明奖励记录（award_id）。")
    row = (
        await session.scalars(select(AwardRow).where(AwardRow.id == award_id, AwardRow.practitioner_id == person.id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"该社工没有编号为 {award_id} 的奖励记录。", code="award_not_found")
    label = evaluate.PROGRAMME_LABELS.get(row.programme, row.programme)
    rule = book.find(row.rule_id, row.rule_version)
    if rule is None:  # the catalogue never drops a version; a guard, not a path
        raise NotFound(f"奖励依据的政策 {row.rule_id} v{row.rule_version} 不在目录中。", code="rule_not_found")
    granted = row.status in ("approved", "paid")
    status_text = {"nominated": "尚在提名阶段，未经批准", "rejected": "未获批准"}.get(row.status, "")
    finding = Finding.of(
        rule,
        granted,
        f"“{label}”奖励 {evaluate.yuan(row.amount)} 元，"
        + (f"于 {row.approved_on} 批准。" if granted else f"{status_text}。"),
        programme=row.programme,
        amount=evaluate.yuan(row.amount),
        approved_on=row.approved_on or "",
    )
    decision = Decision(
        "award",
        str(row.approved_on or row.nominated_on),
        granted,
        f"获得“{label}”奖励。" if granted else f"“{label}”奖励{status_text}。",
        (finding,),
        amount=row.amount if granted else None,
        subject=row.programme,
    )
    return f"award-{row.id}", content.award(decision, row.programme, row.amount, row.status, row.approved_on, today)


async def statement_for(
    session: AsyncSession,
    person: Practitioner,
    kind: str,
    period: str | None,
    award_id: int | None,
    *,
    facts: Facts | None = None,
    book: RuleBook | None = None,
    today: dt.date | None = None,
) -> tuple[str, content.Content]:
    """(canonical period, content) for one person; the decision may be negative."""
    today = today or clock.today()
    book = book or await rule_book(session)
    if kind == "award":
        return await _award_content(session, person, book, award_id, today)
    period, day = parse_period(kind, period, today)
    facts = facts or await load_facts(session, person)
    if kind == "allowance":
        year, month = int(period[:4]), int(period[5:])
        return period, content.allowance(facts, book, year, month, await _org_names(session, facts), today)
    if kind == "ce":
        return period, content.continuing_education(facts, book, int(period), today)
    if kind == "salary":
        return period, content.salary(facts, book, int(period), today)
    return period, content.registration(facts, book, day, today)


def refusal(kind: str, c: content.Content) -> NotEligible:
    """The 409 a negative decision gets: every unmet finding with its rule and citation."""
    unmet = [f for f in c.decision.findings if f.met is not True]
    errors = [
        FieldError(
            f.rule_ref or f.rule_id,
            "rule_not_met" if f.met is False else "rule_pending",
            f"{plain(f.text)}（{plain(f.citation)}）",
        )
        for f in unmet
    ]
    state = "尚无定论" if c.decision.outcome is None else "不符合条件"
    return NotEligible(
        f"不能出具{content.KIND_LABELS[kind]}：{c.decision.summary}（{state}）",
        code="not_eligible",
        errors=errors,
    )


# --- issuing ------------------------------------------------------------------------------------

_VOLATILE = ("serial", "issued_at", "valid_until", "supersedes", "key_id", "verify_url")


def _comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k not in _VOLATILE}


async def _current(session: AsyncSession, practitioner_id: int, kind: str, period: str) -> IssuedCertificate | None:
    later = aliased(IssuedCertificate)
    return (
        await session.scalars(
            select(IssuedCertificate)
            .where(
                IssuedCertificate.practitioner_id == practitioner_id,
                IssuedCertificate.kind == kind,
                IssuedCertificate.period == period,
                ~exists().where(CertificateRevocation.certificate_id == IssuedCertificate.id),
                ~exists().where(later.supersedes_id == IssuedCertificate.id),
            )
            .order_by(IssuedCertificate.id.desc())
            .limit(1)
        )
    ).one_or_none()


async def _ensure_key(session: AsyncSession, signer: Signer) -> None:
    await session.execute(
        insert(SigningKey).values(key_id=signer.key_id, public_pem=signer.public_pem).on_conflict_do_nothing()
    )


def _self_service(actor: Actor, person: Practitioner, kind: str) -> bool:
    """The holder asking for their own certificate, with no staff grant that would allow it."""
    return actor.own_practitioner_id == person.id and not any(
        g.role != "practitioner" for g in actor.grants_for(_kind_action(kind))
    )


def _kind_action(kind: str) -> str:
    return "certify_allowance" if kind == "allowance" else "certify"


def core_snapshot(kind: str, period: str, person: Any, issuer: dict[str, str], c: content.Content) -> dict[str, Any]:
    """What a certificate states, before it gets a serial, a date and a key."""
    return {
        "format": "registry-certificate/1",
        "kind": kind,
        "kind_label": content.KIND_LABELS[kind],
        "period": period,
        "holder": {"name": person.name, "id_masked": mask_id_number(person.id_number), "practitioner_id": person.id},
        "issuer": issuer,
        "statement": c.statement,
        "facts": [[k, v] for k, v in c.facts],
        "headline": c.headline,
        "decision": content.decision_json(c.decision),
    }


async def issue_for(
    session: AsyncSession,
    actor: Actor,
    ctx: CertContext,
    person: Practitioner,
    kind: str,
    period: str,
    c: content.Content,
    *,
    supersedes: IssuedCertificate | None = None,
    batch_id: int | None = None,
) -> tuple[IssuedCertificate, bool]:
    """Sign and store the certificate for a positive decision; (row, newly issued?)."""
    if c.decision.outcome is not True:
        raise refusal(kind, c)
    issuer = await _issuer(session, person.region_code or "")
    now = clock.now().astimezone(clock.CHINA).replace(microsecond=0)
    snapshot = core_snapshot(kind, period, person, issuer, c)
    current = supersedes or await _current(session, person.id, kind, period)
    if current is not None and supersedes is None:
        if _comparable(json.loads(current.snapshot)) == _comparable(json.loads(json.dumps(snapshot))):
            return current, False
        raise Conflict(
            f"该社工已有有效的{content.KIND_LABELS[kind]}（编号 {current.serial}），但登记信息已有变化；"
            "如需按最新信息出具，请使用“重新出具”。",
            code="certificate_outdated",
        )
    missing = render.missing_characters(json.dumps(snapshot, ensure_ascii=False))
    if missing:
        raise InvalidInput(
            f"证明中的字符“{''.join(missing)}”无法用证书字体打印，请联系管理员安装含该字的字体。",
            code="character_unprintable",
        )
    signer = ctx.signer
    serial = new_serial(now.year)
    snapshot |= {
        "serial": serial,
        "issued_at": now.isoformat(),
        "valid_until": str(c.valid_until),
        "supersedes": supersedes.serial if supersedes else None,
        "key_id": signer.key_id,
        "verify_url": ctx.verify_url(serial),
    }
    text = canonical(snapshot)
    payload = short_token(signer, serial, str(c.valid_until))
    await _ensure_key(session, signer)
    row = IssuedCertificate(
        serial=serial,
        kind=kind,
        period=period,
        practitioner_id=person.id,
        region_code=issuer["region_code"],
        snapshot=text,
        signature=signer.sign(text),
        qr_payload=payload,
        key_id=signer.key_id,
        issued_at=now,
        valid_until=c.valid_until,
        issued_by_id=actor.user_id,
        supersedes_id=supersedes.id if supersedes else None,
        batch_id=batch_id,
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        actor,
        "reissue" if supersedes else "issue",
        "certificate",
        serial,
        after={"serial": serial, "kind": kind, "period": period, "headline": c.headline},
        detail={"supersedes": supersedes.serial} if supersedes else ({"batch_id": batch_id} if batch_id else None),
        **about(person),
    )
    return row, True


async def issue(
    session: AsyncSession, actor: Actor, ctx: CertContext, data: IssueRequest
) -> tuple[CertificateRead, bool]:
    # The person's row is locked: two clicks at once give one certificate, not two.
    person = await get_practitioner(
        session, actor, data.practitioner_id, action=_kind_action(data.kind), for_update=True
    )
    # Holders certify their registration as of today; a past day is for staff to certify.
    if (
        data.kind == "registration"
        and data.period
        and data.period != str(clock.today())
        and _self_service(actor, person, data.kind)
    ):
        raise InvalidInput.on_field(
            "period", "period_invalid", "本人只能出具当日的登记证明；其他日期请向民政部门申请。"
        )
    period, c = await statement_for(session, person, data.kind, data.period, data.award_id)
    cert, created = await issue_for(session, actor, ctx, person, data.kind, period, c)
    return _read(cert, None, None, ctx), created


async def reissue(
    session: AsyncSession, actor: Actor, ctx: CertContext, serial: str, data: RevokeRequest
) -> CertificateRead:
    old, _, _ = await _load(session, normalize_serial(serial))
    person = await get_practitioner(session, actor, old.practitioner_id, action=_kind_action(old.kind), for_update=True)
    # Read again under the person's lock: a revocation or reissue that got there first counts.
    old, revocation, successor = await _load(session, old.serial)
    if revocation is not None or successor is not None:
        raise Conflict(
            f"证明 {old.serial} 已{'撤销' if revocation else '被 ' + str(successor) + ' 替代'}，不能再重新出具。",
            code="certificate_not_current",
        )
    award_id = int(old.period.removeprefix("award-")) if old.kind == "award" else None
    period, c = await statement_for(session, person, old.kind, old.period, award_id)
    if c.decision.outcome is True:
        issuer = await _issuer(session, person.region_code or "")
        same = _comparable(json.loads(old.snapshot)) == _comparable(
            json.loads(canonical(core_snapshot(old.kind, period, person, issuer, c)))
        )
        if same:
            # Nothing to correct: the holder downloads the same certificate again instead.
            raise Conflict(
                f"证明 {old.serial} 的内容与当前登记信息一致，无需重新出具；如需纸质件请重新下载。",
                code="certificate_unchanged",
            )
    cert, _ = await issue_for(session, actor, ctx, person, old.kind, period, c, supersedes=old)
    await record(
        session,
        actor,
        "supersede",
        "certificate",
        old.serial,
        detail={"by": cert.serial, "reason": data.reason},
        **about(person),
    )
    return _read(cert, None, None, ctx)


async def revoke(
    session: AsyncSession, actor: Actor, ctx: CertContext, serial: str, data: RevokeRequest
) -> CertificateRead:
    cert, _, _ = await _load(session, normalize_serial(serial))
    person = await get_practitioner(session, actor, cert.practitioner_id, action="revoke_certificate", for_update=True)
    cert, revocation, successor = await _load(session, cert.serial)  # again, under the lock
    if revocation is not None:
        raise Conflict(f"证明 {cert.serial} 已于 {revocation.revoked_at:%Y-%m-%d} 撤销。", code="already_revoked")
    row = CertificateRevocation(certificate_id=cert.id, reason=data.reason, revoked_by_id=actor.user_id)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await record(session, actor, "revoke", "certificate", cert.serial, detail={"reason": data.reason}, **about(person))
    return _read(cert, row, successor, ctx)


async def pdf_parts(session: AsyncSession, actor: Actor, ctx: CertContext, serial: str) -> tuple[str, str, str, str]:
    """(snapshot, signature, QR payload, file name) of a certificate the caller may see."""
    cert, _, _ = await _load(session, normalize_serial(serial))
    await get_practitioner(session, actor, cert.practitioner_id)
    return cert.snapshot, cert.signature, cert.qr_payload, f"{cert.serial}.pdf"


async def pdf(session: AsyncSession, actor: Actor, ctx: CertContext, serial: str) -> tuple[bytes, str]:
    snapshot, signature, token, name = await pdf_parts(session, actor, ctx, serial)
    return await pool.run(render.render_one, snapshot, signature, token), name


# --- public verification -------------------------------------------------------------------------


async def known_keys(session: AsyncSession, ctx: CertContext) -> list[KeyRead]:
    rows = (await session.scalars(select(SigningKey).order_by(SigningKey.created_at))).all()
    current = ctx.signer.key_id
    keys = [
        KeyRead(key_id=r.key_id, algorithm="Ed25519", public_key_pem=r.public_pem, current=r.key_id == current)
        for r in rows
    ]
    if not any(k.current for k in keys):
        keys.append(KeyRead(key_id=current, algorithm="Ed25519", public_key_pem=ctx.signer.public_pem, current=True))
    return keys


async def serial_from_payload(session: AsyncSession, qr: str) -> str:
    """The serial a scanned QR payload names, if its signature holds under a published key."""
    rows = (await session.scalars(select(SigningKey))).all()
    try:
        payload = decode_payload(qr, {r.key_id: load_public_pem(r.public_pem) for r in rows})
    except ValueError as exc:
        raise NotFound(f"二维码无法核验：{exc}", code="payload_invalid") from exc
    return str(payload["s"])


async def public_status(session: AsyncSession, ctx: CertContext, serial: str, qr: str | None = None) -> PublicStatus:
    """What anyone may learn from a serial: enough to trust a paper, nothing more."""
    cert, revocation, successor = await _load(session, normalize_serial(serial))
    key = (await session.scalars(select(SigningKey).where(SigningKey.key_id == cert.key_id))).one()
    signed = signature_ok(load_public_pem(key.public_pem), cert.snapshot, cert.signature)
    snap = json.loads(cert.snapshot)
    status = _status(cert, revocation, successor) if signed else "invalid"
    qr_ok: bool | None = None
    if qr:
        try:
            payload = decode_payload(qr, {key.key_id: load_public_pem(key.public_pem)})
            qr_ok = payload_matches(payload, cert.serial, cert.snapshot, str(cert.valid_until))
        except ValueError:
            qr_ok = False
    return PublicStatus(
        serial=cert.serial,
        status=status,
        status_label=STATUS_LABELS[status],
        signature_valid=signed,
        qr_valid=qr_ok,
        kind=cert.kind,
        kind_label=snap["kind_label"],
        holder=mask_name(snap["holder"]["name"]),
        holder_id=snap["holder"]["id_masked"],
        period=cert.period,
        headline=snap["headline"],
        summary=plain(snap["decision"]["summary"]),
        citations=sorted({plain(f["citation"]) for f in snap["decision"]["findings"]}),
        issuer=snap["issuer"]["name"],
        issued_on=dt.datetime.fromisoformat(snap["issued_at"]).date(),
        valid_until=cert.valid_until,
        revoked_on=revocation.revoked_at.astimezone(clock.CHINA).date() if revocation else None,
        superseded_by=successor,
        key_id=cert.key_id,
    )


def require_batch_role(actor: Actor, kind: Kind) -> None:
    action = "batch_certify_allowance" if kind == "allowance" else "batch_certify"
    if not actor.may(action):
        raise Forbidden("您的角色无权批量出具此类证明。")
