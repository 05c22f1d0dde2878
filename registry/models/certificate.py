from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamps, in_check

CERTIFICATE_KINDS = ("allowance", "ce", "salary", "award", "registration")
BATCH_STATUSES = ("queued", "running", "done", "failed")
BATCH_FORMATS = ("zip", "pdf")


class SigningKey(Base):
    """Every public key that has signed a certificate, so that old certificates still verify
    after the key is rotated. The private half is only ever in the data folder."""

    __tablename__ = "signing_key"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    public_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class IssuedCertificate(Base):
    """An eligibility certificate as issued: the signed snapshot it is rendered from. Never
    changed (a trigger refuses UPDATE and DELETE); revocation and reissue are new rows."""

    __tablename__ = "issued_certificate"
    __table_args__ = (
        CheckConstraint(in_check("kind", CERTIFICATE_KINDS), name="kind_known"),
        CheckConstraint("serial ~ '^SW[0-9]{4}-[0-9A-Z]{10}$'", name="serial_format"),
        Index("ix_issued_certificate_practitioner_id_kind_period", "practitioner_id", "kind", "period"),
        Index("ix_issued_certificate_region_code_id", "region_code", "id"),
        # A certificate is superseded at most once.
        Index("uq_issued_certificate_supersedes_id", "supersedes_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    serial: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(20))  # "2026-10", "2026", "award-12", "2026-11-22"
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))  # the issuing bureau's
    # The canonical JSON exactly as signed (TEXT, not JSONB: JSONB would reorder it).
    snapshot: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(100))
    # The QR code's compact payload, signed once at issue with the same key as the snapshot:
    # every later rendering prints the same code, whatever key is current by then.
    qr_payload: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(ForeignKey("signing_key.key_id"))
    issued_at: Mapped[datetime]
    valid_until: Mapped[date] = mapped_column(Date)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("issued_certificate.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("certificate_batch.id"), index=True)


class CertificateRevocation(Base):
    __tablename__ = "certificate_revocation"

    certificate_id: Mapped[int] = mapped_column(ForeignKey("issued_certificate.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    revoked_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CertificateBatch(Base, Timestamps):
    """Issuing one kind of certificate to everyone eligible in a region, as a job with progress."""

    __tablename__ = "certificate_batch"
    __table_args__ = (
        CheckConstraint(in_check("kind", CERTIFICATE_KINDS), name="kind_known"),
        CheckConstraint(in_check("status", BATCH_STATUSES), name="status_known"),
        CheckConstraint(in_check("format", BATCH_FORMATS), name="format_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    kind: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(4), server_default=text("'zip'"))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'queued'"))
    total: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # people looked at
    judged: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    issued: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # new certificates
    reused: Mapped[int] = mapped_column(Integer, server_default=text("0"))  # already had one
    not_eligible: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rendered: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Eligible but not issued (e.g. the record changed since a certificate was issued, or a
    # name no font can print): counted, and listed with the reason in the output's 清单.csv.
    skipped: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    skipped_detail: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'"))
    # Written with every progress save by the process running the job; a running job whose
    # heartbeat is old was left by a stopped process and may be queued again.
    heartbeat_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    finished_at: Mapped[datetime | None]
