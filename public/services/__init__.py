"""Writes of the public app: the register setting (register.py) and the objection channel (objections.py)."""
