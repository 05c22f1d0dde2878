"""Reminders: catalogue rules computed daily by the queue worker, shown in the app, emailed."""
