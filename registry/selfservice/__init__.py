"""Self-service: the signed-in user's own account and, for a practitioner, their own record
(``/me`` and ``/api/me``). It reads through the other features' services with the user's own
scope; accounts only knows who the user is."""
