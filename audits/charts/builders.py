"""`figures`: the charts of one audit result, from the builder of that audit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from audits.charts.common import Chart
from audits.charts.fidelity import _fidelity
from audits.charts.headers import _disclosure, _privacy
from audits.charts.manifest import _manifest
from audits.charts.memorization import _memorization
from audits.charts.representation import _representation

log = logging.getLogger("audits.charts")  # the name it had before the package


_BUILDERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[Chart]]] = {
    "disclosure": _disclosure,
    "privacy": _privacy,
    "memorization": _memorization,
    "fidelity": _fidelity,
    "representation": _representation,
    "manifest": _manifest,
}


def figures(audit: str, result: dict[str, Any]) -> list[Chart]:
    """The charts of one audit result; none for a result that could not be computed."""
    charts = result.get("charts")
    if result.get("status") == "not_computable" or not isinstance(charts, dict) or audit not in _BUILDERS:
        return []
    try:
        return _BUILDERS[audit](charts, result)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        # A result written by another engine version: the page shows its tables without charts.
        log.warning("chart data of the %s audit not understood: %s", audit, exc)
        return []
