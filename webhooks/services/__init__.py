"""Writes of the webhooks app: hooks (hooks.py), the outbox (outbox.py), sending (deliveries.py)."""
