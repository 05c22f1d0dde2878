"""All models, imported here so that Alembic and the mappers see every table."""

from registry.models.account import ApiToken, LoginThrottle, RoleGrant, User, WebSession
from registry.models.audit import AuditEvent
from registry.models.bank import BankAccount
from registry.models.base import Base
from registry.models.certificate import CertificateBatch, CertificateRevocation, IssuedCertificate, SigningKey
from registry.models.certification import Certification, CertificationPeriod
from registry.models.imports import ImportJob
from registry.models.organization import Organization
from registry.models.oversight import (
    CeAuditEvidence,
    CeAuditMember,
    CeAuditOutcome,
    CeAuditSample,
    RegisterLookupDay,
    Reminder,
    ReminderAddress,
    ReminderDelivery,
    ReminderRead,
    ReminderRun,
)
from registry.models.payroll import PayrollDropped, PayrollLine, PayrollRun
from registry.models.policy import AwardRow, CeEvidence, CeRecordRow, PolicyRuleRow, SalaryBenchmarkRow, SalaryRecordRow
from registry.models.practitioner import Employment, Practitioner
from registry.models.region import Region
from registry.models.summary import PractitionerOutcome, RegionSummary, SummaryRefresh

__all__ = [
    "ApiToken",
    "AuditEvent",
    "AwardRow",
    "BankAccount",
    "Base",
    "CeAuditEvidence",
    "CeAuditMember",
    "CeAuditOutcome",
    "CeAuditSample",
    "CeEvidence",
    "CeRecordRow",
    "CertificateBatch",
    "CertificateRevocation",
    "Certification",
    "CertificationPeriod",
    "Employment",
    "ImportJob",
    "IssuedCertificate",
    "LoginThrottle",
    "Organization",
    "PayrollDropped",
    "PayrollLine",
    "PayrollRun",
    "PolicyRuleRow",
    "Practitioner",
    "PractitionerOutcome",
    "Region",
    "RegionSummary",
    "RegisterLookupDay",
    "Reminder",
    "ReminderAddress",
    "ReminderDelivery",
    "ReminderRead",
    "ReminderRun",
    "RoleGrant",
    "SalaryBenchmarkRow",
    "SalaryRecordRow",
    "SigningKey",
    "SummaryRefresh",
    "User",
    "WebSession",
]
