"""Views of the public app: the register (register.py) and the objection channel (objections.py)."""
