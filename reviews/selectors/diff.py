"""What changed between two rounds: pure functions from frozen snapshots (and audit metrics)
to dataclasses, so the comparison can be tested without a database or a view.

Answers are matched by item code, evidence files by their SHA-256 (a renamed file with the
same bytes is the same evidence; a new upload under an old name is not), image sets by role.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reviews.enums import AnswerStatus, GeneratorFamily, Modality, SynthesisTask

PROJECT_FIELD_LABELS = {
    "title": "Title",
    "summary": "Summary",
    "synthesis_task": "Synthesis task",
    "modalities": "Modalities",
    "generator_family": "Generator family",
    "intended_use": "Intended use",
    "prohibited_uses": "Prohibited uses",
    "data_sources": "Data sources",
}
_CHOICE_LABELS: dict[str, dict[str, str]] = {
    "synthesis_task": dict(SynthesisTask.choices),
    "generator_family": dict(GeneratorFamily.choices),
    "modalities": dict(Modality.choices),
}
_STATUS_LABELS = dict(AnswerStatus.choices)
_IMAGE_SET_FIELDS = ("digest", "files", "accepted", "images", "metadata_sha256", "manifest_sha256")


@dataclass
class DiffLine:
    kind: str  # "same", "added" or "removed"
    text: str


@dataclass
class TextChange:
    before: str
    after: str
    lines: list[DiffLine]


@dataclass
class FieldChange:
    name: str
    label: str
    before: str
    after: str
    lines: list[DiffLine] = field(default_factory=list)


@dataclass
class AnswerChange:
    """One item's answer in both rounds; `changed` is False when nothing differs."""

    code: str
    stage: str
    status_before: str
    status_after: str
    justification: TextChange | None = None
    evidence_text: TextChange | None = None
    files_added: list[dict[str, Any]] = field(default_factory=list)
    files_removed: list[dict[str, Any]] = field(default_factory=list)
    files_renamed: list[tuple[str, str]] = field(default_factory=list)
    is_new: bool = False  # the item was not in the earlier round (another guideline version)
    is_gone: bool = False  # the item is not in this round any more

    @property
    def status_changed(self) -> bool:
        return self.status_before != self.status_after

    @property
    def status_before_label(self) -> str:
        return _STATUS_LABELS.get(self.status_before, "Not answered")

    @property
    def status_after_label(self) -> str:
        return _STATUS_LABELS.get(self.status_after, "Not answered")

    @property
    def changed(self) -> bool:
        return bool(
            self.is_new
            or self.is_gone
            or self.status_changed
            or self.justification
            or self.evidence_text
            or self.files_added
            or self.files_removed
            or self.files_renamed
        )

    @property
    def what_changed(self) -> list[str]:
        """The change in words, for the summary that leads the page ("answer: Met → Not met")."""
        if self.is_new:
            return ["new item in this round's checklist"]
        if self.is_gone:
            return ["no longer in the checklist"]
        words = []
        if self.status_changed:
            words.append(f"answer: {self.status_before_label} → {self.status_after_label}")
        if self.justification:
            words.append("justification rewritten")
        if self.evidence_text:
            words.append("evidence text rewritten")
        if self.files_added:
            words.append(_count(len(self.files_added), "evidence file") + " added")
        if self.files_removed:
            words.append(_count(len(self.files_removed), "evidence file") + " removed")
        if self.files_renamed:
            words.append(_count(len(self.files_renamed), "evidence file") + " renamed")
        return words


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


_VERDICT_WORDS = {"pass": "pass", "warn": "warning", "fail": "fail", "not_computable": "not computable"}


def verdict_words(status: str) -> str:
    """An audit's verdict as the summary says it; no result for a round without one."""
    return _VERDICT_WORDS.get(status, "no result")


@dataclass
class ImageSetChange:
    role: str
    kind: str  # "added", "removed" or "changed"
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    fields: list[str] = field(default_factory=list)  # which manifest values differ


@dataclass
class MetricChange:
    name: str
    before: float | None
    after: float | None
    label: str = ""  # the metric in words (the audit's METRIC_LABELS); the page keeps `name` in a tooltip

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def before_text(self) -> str:
        return _number(self.before)

    @property
    def after_text(self) -> str:
        return _number(self.after)

    @property
    def delta_text(self) -> str:
        delta = self.delta
        if delta is None:
            return "—"
        return "0" if delta == 0 else f"{delta:+.4g}"


def _number(value: float | None) -> str:
    """Six significant digits: enough to see a change, short enough to read."""
    return "—" if value is None else f"{value:.6g}"


@dataclass
class AuditChange:
    audit: str
    label: str
    status_before: str
    status_after: str
    metrics: list[MetricChange] = field(default_factory=list)

    @property
    def status_changed(self) -> bool:
        return self.status_before != self.status_after

    @property
    def changed(self) -> bool:
        return self.status_changed or any(metric.changed for metric in self.metrics)

    @property
    def verdict_change(self) -> str:
        """ "Memorization: fail → pass"; empty when the verdict is the same in both rounds."""
        if not self.status_changed:
            return ""
        return f"{self.label}: {verdict_words(self.status_before)} → {verdict_words(self.status_after)}"


@dataclass
class ThresholdChange:
    """One audit threshold whose value differs between the rounds (None: the rule was off)."""

    code: str  # "audit.parameter"
    before: Any
    after: Any
    label: str = ""

    @property
    def before_text(self) -> str:
        return _threshold_text(self.before)

    @property
    def after_text(self) -> str:
        return _threshold_text(self.after)


def _threshold_text(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _number(value) if isinstance(value, int | float) else str(value)


@dataclass
class RoundDiff:
    before_round: int
    after_round: int
    version_before: str
    version_after: str
    project_fields: list[FieldChange]
    answers: list[AnswerChange]
    image_sets: list[ImageSetChange]
    thresholds: list[ThresholdChange] = field(default_factory=list)
    thresholds_recorded: bool = True  # both rounds' snapshots hold the thresholds they were judged by

    @property
    def version_changed(self) -> bool:
        return self.version_before != self.version_after

    @property
    def changed_answers(self) -> list[AnswerChange]:
        return [answer for answer in self.answers if answer.changed]

    @property
    def unchanged_answers(self) -> list[AnswerChange]:
        return [answer for answer in self.answers if not answer.changed]

    @property
    def is_empty(self) -> bool:
        return not (
            self.project_fields or self.changed_answers or self.image_sets or self.version_changed or self.thresholds
        )


def text_lines(before: str, after: str) -> list[DiffLine]:
    """A line diff of two texts, every line kept so the reader sees the change in context."""
    old, new = (before or "").splitlines(), (after or "").splitlines()
    lines: list[DiffLine] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            lines.extend(DiffLine("same", text) for text in old[i1:i2])
            continue
        lines.extend(DiffLine("removed", text) for text in old[i1:i2])
        lines.extend(DiffLine("added", text) for text in new[j1:j2])
    return lines


def _text_change(before: Any, after: Any) -> TextChange | None:
    before, after = str(before or ""), str(after or "")
    if before == after:
        return None
    return TextChange(before, after, text_lines(before, after))


def _display(name: str, value: Any) -> str:
    labels = _CHOICE_LABELS.get(name, {})
    if isinstance(value, list):
        return ", ".join(labels.get(str(part), str(part)) for part in value)
    if value is None:
        return ""
    return labels.get(str(value), str(value))


def diff_project(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    changes = []
    for name, label in PROJECT_FIELD_LABELS.items():
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        old_text, new_text = _display(name, old), _display(name, new)
        lines = text_lines(old_text, new_text) if "\n" in old_text + new_text else []
        changes.append(FieldChange(name, label, old_text, new_text, lines))
    return changes


def _files_change(answer: AnswerChange, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> None:
    old = {f.get("sha256"): f for f in before}
    new = {f.get("sha256"): f for f in after}
    answer.files_added = [f for digest, f in new.items() if digest not in old]
    answer.files_removed = [f for digest, f in old.items() if digest not in new]
    answer.files_renamed = [
        (old[digest].get("name", ""), f.get("name", ""))
        for digest, f in new.items()
        if digest in old and old[digest].get("name") != f.get("name")
    ]


def diff_answers(before: list[Mapping[str, Any]], after: list[Mapping[str, Any]]) -> list[AnswerChange]:
    """Every item of the later round, in its order, then items only the earlier round had."""
    old = {entry["item"]: entry for entry in before}
    changes = []
    for entry in after:
        code = entry["item"]
        previous = old.get(code)
        change = AnswerChange(
            code=code,
            stage=entry.get("stage", ""),
            status_before=(previous or {}).get("status", ""),
            status_after=entry.get("status", ""),
            is_new=previous is None,
        )
        if previous is not None:
            change.justification = _text_change(previous.get("justification"), entry.get("justification"))
            change.evidence_text = _text_change(previous.get("evidence_text"), entry.get("evidence_text"))
            _files_change(change, list(previous.get("files") or []), list(entry.get("files") or []))
        changes.append(change)
    seen = {entry["item"] for entry in after}
    for code, previous in old.items():
        if code not in seen:
            changes.append(
                AnswerChange(
                    code=code,
                    stage=previous.get("stage", ""),
                    status_before=previous.get("status", ""),
                    status_after="",
                    is_gone=True,
                )
            )
    return changes


def diff_image_sets(before: list[Mapping[str, Any]], after: list[Mapping[str, Any]]) -> list[ImageSetChange]:
    old = {entry["role"]: dict(entry) for entry in before}
    new = {entry["role"]: dict(entry) for entry in after}
    changes = []
    for role in sorted(set(old) | set(new)):
        if role not in old:
            changes.append(ImageSetChange(role, "added", None, new[role]))
        elif role not in new:
            changes.append(ImageSetChange(role, "removed", old[role], None))
        else:
            differing = [name for name in _IMAGE_SET_FIELDS if old[role].get(name) != new[role].get(name)]
            if differing:
                changes.append(ImageSetChange(role, "changed", old[role], new[role], differing))
    return changes


def diff_thresholds(
    before: Mapping[str, Any], after: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> list[ThresholdChange]:
    """Thresholds (audit -> parameter -> value, as a round froze them) that differ; `labels`
    maps "audit.parameter" to its words."""

    def flat(values: Mapping[str, Any]) -> dict[str, Any]:
        return {
            f"{audit}.{name}": value
            for audit, params in values.items()
            if isinstance(params, Mapping)
            for name, value in params.items()
        }

    old, new = flat(before), flat(after)
    labels = labels or {}
    return [
        ThresholdChange(code, old.get(code), new.get(code), labels.get(code, ""))
        for code in sorted(set(old) | set(new))
        if old.get(code) != new.get(code)
    ]


def _version(snapshot: Mapping[str, Any]) -> str:
    version = snapshot.get("guideline_version") or {}
    return f"{version.get('set', '')} v{version.get('number', '')}"


def diff_snapshots(
    before: Mapping[str, Any], after: Mapping[str, Any], *, threshold_labels: Mapping[str, str] | None = None
) -> RoundDiff:
    """The change from the earlier round's snapshot to the later one's.

    Rounds frozen before snapshots recorded their audit thresholds compare none of them
    (`thresholds_recorded` is then False), rather than report every threshold as new.
    """
    old_thresholds, new_thresholds = before.get("audit_thresholds"), after.get("audit_thresholds")
    recorded = isinstance(old_thresholds, Mapping) and isinstance(new_thresholds, Mapping)
    thresholds: list[ThresholdChange] = []
    if isinstance(old_thresholds, Mapping) and isinstance(new_thresholds, Mapping):
        thresholds = diff_thresholds(old_thresholds, new_thresholds, threshold_labels)
    return RoundDiff(
        before_round=int(before.get("round") or 0),
        after_round=int(after.get("round") or 0),
        version_before=_version(before),
        version_after=_version(after),
        project_fields=diff_project(before.get("project") or {}, after.get("project") or {}),
        answers=diff_answers(list(before.get("answers") or []), list(after.get("answers") or [])),
        image_sets=diff_image_sets(list(before.get("image_sets") or []), list(after.get("image_sets") or [])),
        thresholds=thresholds,
        thresholds_recorded=recorded,
    )


def diff_audits(
    *,
    audits: Mapping[str, str],
    status_before: Mapping[str, str],
    status_after: Mapping[str, str],
    metrics_before: Mapping[str, Mapping[str, float]],
    metrics_after: Mapping[str, Mapping[str, float]],
    metric_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> list[AuditChange]:
    """Per audit (name -> label, in order): its status and each scalar metric in both rounds;
    `metric_labels` (audit -> metric -> words) names the metrics."""
    changes = []
    for audit, label in audits.items():
        old, new = metrics_before.get(audit) or {}, metrics_after.get(audit) or {}
        words = (metric_labels or {}).get(audit) or {}
        names = [*old, *(name for name in new if name not in old)]
        changes.append(
            AuditChange(
                audit=audit,
                label=label,
                status_before=status_before.get(audit, ""),
                status_after=status_after.get(audit, ""),
                metrics=[MetricChange(name, old.get(name), new.get(name), words.get(name, "")) for name in names],
            )
        )
    return changes
