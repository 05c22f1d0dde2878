"""What ``GET /api/me`` answers."""

from __future__ import annotations

from registry.accounts.schemas import MeRead
from registry.practitioners.schemas import PractitionerDetail
from registry.rules.schemas import DecisionsRead


class MeResponse(MeRead):
    # The practitioner's own record when the user holds the practitioner role, and what the
    # rules say about it today.
    practitioner: PractitionerDetail | None = None
    decisions: DecisionsRead | None = None
