"""The dry run's plan, kept beside the uploaded file for the commit of the same bytes.

The check is a function of the file, the day, the importing user's grants and what the
registry holds about the file's rows (``Lookups``). The dry run keeps the plan it made together
with the keys it looked up and a fingerprint of those inputs. The commit looks the same keys up
again inside its transaction (locking the people's rows, under the import lock) and uses the
kept plan only when the fingerprint is the same: anything the check saw that has changed since
(a person registered meanwhile with one of the file's ID numbers, a transfer, a certificate, a
changed grant, another day, another version of the rules) means the whole check runs again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from registry.accounts.actor import Actor
from registry.imports import check, values
from registry.imports.check import Lookups, Parsed, Plan

# The rules themselves: a plan made by other code is not reused.
RULES = hashlib.sha256(b"".join(Path(m.__file__ or "").read_bytes() for m in (check, values))).hexdigest()


@dataclass
class Kept:
    keys: dict[str, list[Any]]
    fingerprint: str
    plan: Plan


def keys_of(parsed: Parsed) -> dict[str, list[Any]]:
    """What the check looks up about a file's rows (service.lookups)."""
    return {
        "numbers": sorted(parsed.id_numbers()),
        "regions": sorted(
            parsed.all("practitioners", "household_region_code") | parsed.all("organizations", "region_code")
        ),
        "codes": sorted(
            parsed.all("employment", "credit_code")
            | parsed.all("salaries", "credit_code")
            | parsed.all("organizations", "credit_code")
        ),
        "names": sorted(
            parsed.all("employment", "org_name")
            | parsed.all("salaries", "org_name")
            | parsed.all("organizations", "name")
        ),
        "certs": sorted(
            parsed.all("certifications", "certificate_number") | parsed.all("registrations", "certificate_number")
        ),
        "ce": sorted(
            {
                (values["id_number"], values["activity_date"])
                for _, values in parsed.rows["ce"]
                if values.get("id_number") and values.get("activity_date") is not None
            }
        ),
        "salaries": sorted(
            {
                (values["id_number"], values["year"])
                for _, values in parsed.rows["salaries"]
                if values.get("id_number") and values.get("year") is not None
            }
        ),
    }


_CONTAINERS = (dict, set, frozenset, list, tuple)


def _feed(digest: Any, value: Any) -> None:
    """Hash a value so that equal look-ups give equal digests whatever order dicts and sets
    were filled in; streamed, so that 100,000 people found cost no copy of them."""
    if isinstance(value, dict):
        if not any(isinstance(v, _CONTAINERS) for v in value.values()):  # a row: one update
            digest.update(repr(sorted(value.items(), key=lambda kv: repr(kv[0]))).encode())
            return
        digest.update(b"{")
        for key in sorted(value, key=repr):
            digest.update(repr(key).encode() + b":")
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, set | frozenset):
        digest.update(repr(sorted(map(repr, value))).encode())
    elif isinstance(value, list | tuple):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    else:
        digest.update(repr(value).encode() + b",")


def fingerprint(found: Lookups, actor: Actor, today: dt.date, digest: str) -> str:
    """Of everything the check's outcome depends on besides the file's bytes (``digest``); taken
    before the check runs (it adds the file's new organizations to ``found``)."""
    who = (actor.user_id, actor.unrestricted, sorted(map(repr, actor.grants)))
    out = hashlib.sha256(repr((RULES, digest, today.isoformat(), who)).encode())
    for name, value in sorted(vars(found).items()):
        out.update(name.encode() + b"=")
        _feed(out, value)
    return out.hexdigest()


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot keep {type(value).__name__} in a plan")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$d" in obj:
            return dt.date.fromisoformat(obj["$d"])
        if "$n" in obj:
            return Decimal(obj["$n"])
        if "$dt" in obj:
            return dt.datetime.fromisoformat(obj["$dt"])
    return obj


def dump(kept: Kept, digest: str) -> bytes:
    plan = kept.plan
    payload = {
        "sha256": digest,
        "keys": kept.keys,
        "fingerprint": kept.fingerprint,
        "plan": {
            "writes": plan.writes,
            "counts": plan.counts,
            "samples": plan.samples,
            "notices": plan.notices,
            "notice_count": plan.notice_count,
            "rows": plan.rows,
        },
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=_default).encode()


def load(raw: bytes, digest: str) -> Kept | None:
    try:
        payload = json.loads(raw, object_hook=_hook)
        if payload.get("sha256") != digest:
            return None
        keys = payload["keys"]
        keys["ce"] = [tuple(k) for k in keys["ce"]]
        keys["salaries"] = [tuple(k) for k in keys["salaries"]]
        p = payload["plan"]
        plan = Plan(
            writes=p["writes"],
            counts=p["counts"],
            samples=p["samples"],
            notices=p["notices"],
            notice_count=p["notice_count"],
            rows=p["rows"],
        )
        return Kept(keys=keys, fingerprint=payload["fingerprint"], plan=plan)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
