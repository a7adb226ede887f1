"""Every write of the audits app: image-set uploads (uploads.py) and the run ledger (runs.py)."""
