"""Reads of the audits app, with the query choices that keep each page's count fixed.

A finished run's results hold every audit's chart arrays (thousands of numbers for a large
set). Pages that show only statuses and summary sentences read those two keys from the
JSON in the database (KT) and never load the rest; the page of one audit loads only that
audit's part of the results.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.fields.json import KT, KeyTransform
from django.urls import reverse

from audits.engine import ENGINE_VERSION
from audits.enums import AuditName, RunStatus, SetRole, SetStatus
from audits.models import AuditConfig, AuditRun, ImageFile, ImageSet
from audits.thresholds import SetAside, usable_thresholds
from reviews.models import Project

AUDITS: tuple[str, ...] = tuple(AuditName.values)
AUDIT_LABELS = dict(AuditName.choices)
RESULT_STATUSES = ("pass", "warn", "fail", "not_computable")
ROLE_ORDER = {role: position for position, role in enumerate(SetRole.values)}
FILES_PER_PAGE = 200
THUMBNAIL_PX = 256


@dataclass
class AuditSummary:
    """One audit's status and sentence in one run, and where its page is."""

    audit: str
    status: str  # one of RESULT_STATUSES, or "" when the run has no result for it
    summary: str
    url: str

    @property
    def label(self) -> str:
        return AUDIT_LABELS.get(self.audit, self.audit)


@dataclass
class RunSummary:
    run: AuditRun
    audits: list[AuditSummary] = field(default_factory=list)

    @property
    def finished_at(self) -> datetime | None:
        return self.run.finished_at

    def for_audit(self, audit: str) -> AuditSummary | None:
        return next((entry for entry in self.audits if entry.audit == audit), None)


def _status_keys() -> dict[str, Any]:
    return {f"status_{audit}": KT(f"results__{audit}__status") for audit in AUDITS}


def _summary_keys() -> dict[str, Any]:
    return {f"summary_{audit}": KT(f"results__{audit}__summary") for audit in AUDITS}


def _summaries(run: AuditRun, *, with_sentences: bool) -> RunSummary:
    """The audits of a run annotated by _status_keys (and _summary_keys); none before it succeeded."""
    if run.status != RunStatus.SUCCEEDED:
        return RunSummary(run=run)
    entries = []
    for audit in AUDITS:
        status = getattr(run, f"status_{audit}", None) or ""
        entries.append(
            AuditSummary(
                audit=audit,
                status=status if status in RESULT_STATUSES else "",
                summary=(getattr(run, f"summary_{audit}", None) or "") if with_sentences else "",
                url=reverse("audit-result", kwargs={"pk": run.project_id, "run_pk": run.pk, "audit": audit}),
            )
        )
    return RunSummary(run=run, audits=entries)


def _runs(project: Project) -> QuerySet[AuditRun]:
    """The project's runs without their results, each with the number of the run it reused."""
    return (
        AuditRun.objects.filter(project=project).defer("results").annotate(reused_from_number=F("reused_from__number"))
    )


def current_image_sets(project: Project) -> list[ImageSet]:
    """The current set of each role, in role order (synthetic, reference, held-out)."""
    sets = ImageSet.objects.filter(project=project, is_current=True).select_related("uploaded_by")
    return sorted(sets, key=lambda s: ROLE_ORDER.get(s.role, len(ROLE_ORDER)))


def current_and_ingesting_sets(project: Project) -> tuple[list[ImageSet], list[ImageSet]]:
    """The current set of each role, and the sets whose files a worker is still reading (not
    current yet), each in role order: one query."""
    sets = ImageSet.objects.filter(Q(is_current=True) | Q(status=SetStatus.INGESTING), project=project).select_related(
        "uploaded_by"
    )
    ordered = sorted(sets, key=lambda s: (ROLE_ORDER.get(s.role, len(ROLE_ORDER)), s.pk))
    return [s for s in ordered if s.is_current], [s for s in ordered if s.is_ingesting]


def has_synthetic_set(project: Project) -> bool:
    """Whether the project has a current synthetic set: every audit needs one, so no run is
    queued without it (a run over reference images alone is "not computable" throughout)."""
    return ImageSet.objects.filter(project=project, role=SetRole.SYNTHETIC, is_current=True).exists()


def current_sets(project: Project) -> dict[str, ImageSet]:
    return {s.role: s for s in ImageSet.objects.filter(project=project, is_current=True)}


def run_input_digest(sets: dict[str, ImageSet], params: dict[str, Any]) -> str:
    """Identity of a run's inputs: equal digests give equal results, so results are reused."""
    data = {
        "engine": ENGINE_VERSION,
        "params": params,
        "sets": {
            role: {
                "files": image_set.digest,
                "metadata": hashlib.sha256(image_set.metadata_csv.encode()).hexdigest(),
                "manifest": hashlib.sha256(image_set.manifest_text.encode()).hexdigest(),
                # Only when given, so that the digests of earlier runs without one still match.
                **(
                    {"value_map": hashlib.sha256(image_set.value_map_text.encode()).hexdigest()}
                    if image_set.value_map_text
                    else {}
                ),
            }
            for role, image_set in sorted(sets.items())
        },
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def current_thresholds(project: Project) -> tuple[dict[str, dict[str, Any]], list[SetAside]]:
    """The thresholds a run receives now (every declared one, the project's value or the
    default), and the stored values set aside (compute settings, values that no longer
    validate: the run uses the defaults instead, and the thresholds page says so).

    While the project is submitted these are the thresholds its round froze: the config
    cannot change then (audits.services.config refuses under the project lock) and the round
    recorded these same values (audits.receivers), so a re-run during review uses them.
    """
    config = AuditConfig.objects.filter(project=project).first()
    return usable_thresholds(config.params if config else {})


def current_params(project: Project) -> dict[str, Any]:
    """A run's parameters: the thresholds in force, never a compute setting."""
    values, _set_aside = current_thresholds(project)
    return {"audits": values}


def current_input_digest(project: Project) -> str:
    """The input digest a run over the project's current sets and thresholds would have."""
    return run_input_digest(current_sets(project), current_params(project))


def image_set_files(image_set: ImageSet) -> QuerySet[ImageFile]:
    """The manifest: rejected files first (they need the researcher's attention), then by name."""
    return (
        ImageFile.objects.filter(image_set=image_set)
        .defer("header")
        .annotate(rejected_first=Case(When(error="", then=Value(1)), default=Value(0), output_field=IntegerField()))
        .order_by("rejected_first", "name", "pk")
    )


def run_history(project: Project) -> QuerySet[AuditRun]:
    """Every run of a project, newest first, with each audit's status read from the JSON."""
    return _runs(project).select_related("requested_by").annotate(**_status_keys()).order_by("-created_at", "-pk")


def run_history_rows(runs: list[AuditRun]) -> list[RunSummary]:
    return [_summaries(run, with_sentences=False) for run in runs]


def latest_run(project: Project) -> AuditRun | None:
    """The newest run whatever its state: a queued or running one shows its progress."""
    return _runs(project).order_by("-created_at", "-pk").first()


def latest_current_run(project: Project) -> AuditRun | None:
    """The newest succeeded run over the project's current sets and thresholds, or None.

    Only results computed on the images the project has now count as its evidence: after a
    new upload, older results are history until the new run finishes.
    """
    return (
        _runs(project)
        .filter(status=RunStatus.SUCCEEDED, input_digest=current_input_digest(project))
        .order_by("-finished_at", "-pk")
        .first()
    )


def latest_results(project: Project, *, with_sentences: bool = True) -> RunSummary | None:
    """Statuses (and sentences) of the latest run over the current inputs: the computed evidence.

    Finished means succeeded on the current inputs, the same choice as the round snapshot
    (audits.receivers): a failed or cancelled run has no results to show.
    """
    keys = {**_status_keys(), **(_summary_keys() if with_sentences else {})}
    run = (
        _runs(project)
        .filter(status=RunStatus.SUCCEEDED, input_digest=current_input_digest(project))
        .annotate(**keys)
        .order_by("-finished_at", "-pk")
        .first()
    )
    return _summaries(run, with_sentences=with_sentences) if run is not None else None


@dataclass
class ShownResults:
    """The results the audits overview shows: the latest run over the current inputs, else the
    latest finished run at all, with what changed since (so the page never says "no finished
    run" while finished runs are listed below it)."""

    summary: RunSummary
    current: bool
    thresholds_changed: bool = False
    sets_changed: bool = False


def shown_results(project: Project) -> ShownResults | None:
    """Three queries (sets, thresholds, run), two more when no run is over the current inputs."""
    sets = current_sets(project)
    params = current_params(project)
    finished = _runs(project).filter(status=RunStatus.SUCCEEDED).annotate(**_status_keys(), **_summary_keys())
    run = finished.filter(input_digest=run_input_digest(sets, params)).order_by("-finished_at", "-pk").first()
    if run is not None:
        return ShownResults(summary=_summaries(run, with_sentences=True), current=True)
    run = finished.order_by("-finished_at", "-pk").first()
    if run is None:
        return None
    used = set(run.sets.values_list("pk", flat=True))
    return ShownResults(
        summary=_summaries(run, with_sentences=True),
        current=False,
        thresholds_changed=(run.params or {}).get("audits") != params["audits"],
        sets_changed=used != {image_set.pk for image_set in sets.values()},
    )


def project_run(project: Project, run_pk: int) -> AuditRun | None:
    """One run of the project with its audits' statuses and sentences, without the chart arrays."""
    return (
        _runs(project)
        .select_related("requested_by", "reused_from")
        .annotate(**_status_keys(), **_summary_keys())
        .filter(pk=run_pk)
        .first()
    )


def run_summary(run: AuditRun) -> RunSummary:
    return _summaries(run, with_sentences=True)


def run_audit_result(project: Project, run_pk: int, audit: str) -> tuple[AuditRun, dict[str, Any] | None] | None:
    """A run of the project and that one audit's result dict (None while the run has none).

    The other audits' statuses come along (for the page's navigation), their results do not.
    """
    run = (
        _runs(project)
        .select_related("requested_by", "reused_from")
        .annotate(audit_result=KeyTransform(audit, "results"), **_status_keys())
        .filter(pk=run_pk)
        .first()
    )
    if run is None:
        return None
    result = getattr(run, "audit_result", None)
    return run, result if isinstance(result, dict) else None


def run_files_by_name(run: AuditRun, names: set[str]) -> dict[tuple[str, str], int]:
    """(role, file name) -> ImageFile id, for the files of the run's own sets."""
    rows = ImageFile.objects.filter(image_set__runs=run, name__in=names, error="").values_list(
        "image_set__role", "name", "pk"
    )
    return {(role, name): pk for role, name, pk in rows}


def project_image_file(project: Project, file_pk: int) -> ImageFile | None:
    """An accepted file of any of the project's sets (an old run still shows its own images)."""
    return (
        ImageFile.objects.filter(pk=file_pk, image_set__project=project, error="")
        .exclude(stored="")
        .select_related("image_set")
        .first()
    )


def _aligned(pixels: Any, align: str, crop: tuple[float, float, float] | None) -> Any:
    from audits.engine.memorization.geometry import apply_d8, area_matrix, resample

    square = apply_d8(pixels, align)
    if crop is not None:
        top, left, side = crop
        size = square.shape[0]
        rows = area_matrix(size, top * size, side * size, size)
        cols = area_matrix(size, left * size, side * size, size)
        square = resample(square[None], rows, cols)[0]
    return square


def image_thumbnail_png(
    image_file: ImageFile, index: int, *, align: str = "identity", crop: tuple[float, float, float] | None = None
) -> bytes | None:
    """Slice `index` of a file as a grey PNG at most THUMBNAIL_PX wide and high, or None.

    The pixels are the engine's own preprocessing (percentile clip, [0, 1]) of that slice, so
    the picture is what the audits compared; the square the engine resizes to is stretched
    back to the slice's aspect ratio. For a memorization pair the picture can be shown as the
    audit aligned it: `align` (a symmetry of the square, see `geometry.D8`) turns the square,
    and `crop` = (top, left, side) as fractions of the side cuts the matched region out of it
    and resizes it back, so the picture keeps the aspect of the real image it is compared with.
    """
    from PIL import Image as PillowImage

    from audits.engine.preprocess import Preprocessing, preprocess
    from audits.engine.readers import read_file
    from audits.engine.readers.nifti import read_nifti_slice
    from config.storage import local_path

    if not image_file.stored:
        return None
    params = Preprocessing(size=THUMBNAIL_PX)
    try:
        with local_path(image_file.stored.name) as path:
            if image_file.format == "nifti":  # read the one slice, not the whole series
                native = read_nifti_slice(path, index)
                if native is None:
                    return None
                pixels, _blank = preprocess(native, params)
                height, width = native.shape[:2]
            else:
                record, images = read_file(path, image_file.name, params)
                image = next((candidate for candidate in images if candidate.index == index), None)
                if record.error or image is None:
                    return None
                pixels = image.pixels
                width, height = record.width or THUMBNAIL_PX, record.height or THUMBNAIL_PX
    except FileNotFoundError:
        return None
    if align != "identity" or crop is not None:
        pixels = _aligned(pixels, align, crop)
        if align in ("rot90", "rot270", "transpose", "anti_transpose"):  # turned a quarter: the other aspect
            width, height = height, width
    scale = THUMBNAIL_PX / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    grey = (pixels.clip(0.0, 1.0) * 255.0 + 0.5).astype("uint8")
    picture = PillowImage.fromarray(grey).resize(size, PillowImage.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@dataclass
class RoundAudits:
    """The audit results a round is judged on.

    state: "ready" (results of a run over exactly the round's inputs), "pending" (such a run
    is queued or running), "missing" (no run over the round's inputs succeeded, none is on its
    way) or "no_images" (the round froze no image set, so no audit can run).
    """

    state: str
    run: AuditRun | None = None
    audits: list[AuditSummary] = field(default_factory=list)

    def status_of(self, audit: str) -> str:
        entry = next((a for a in self.audits if a.audit == audit), None)
        if entry is not None and entry.status:
            return entry.status
        return "not_computable" if self.state in {"no_images", "missing"} else ""


# A succeeded run's statuses and summaries, per process: its results are written once, when it
# succeeds, and never change after (runs.run_succeed), so its id and times name them for good (the
# times too, in case an id is used again after a rolled-back transaction, as SQLite may).
# Reading them costs a query whose twelve JSON-key lookups take longer to compile than to run.
_FINISHED: dict[tuple[int, int, datetime, datetime | None], list[tuple[str, str, str]]] = {}
_FINISHED_MAX = 512


def _finished_summaries(run: AuditRun) -> list[AuditSummary]:
    """The audits of a succeeded run (as `_summaries` with sentences); statuses and sentences kept per process."""
    key = (run.pk, run.project_id, run.created_at, run.finished_at)
    found = _FINISHED.get(key)
    if found is None:
        keys = {**_status_keys(), **_summary_keys()}
        values = AuditRun.objects.filter(pk=run.pk).annotate(**keys).values(*keys).first() or {}
        annotated = copy.copy(run)
        for name, value in values.items():
            setattr(annotated, name, value)
        found = [(a.audit, a.status, a.summary) for a in _summaries(annotated, with_sentences=True).audits]
        if len(_FINISHED) >= _FINISHED_MAX:
            oldest = next(iter(_FINISHED), None)  # another thread may have taken it already
            if oldest is not None:
                _FINISHED.pop(oldest, None)
        _FINISHED[key] = found
    return [
        AuditSummary(
            audit=audit,
            status=status,
            summary=summary,
            url=reverse("audit-result", kwargs={"pk": run.project_id, "run_pk": run.pk, "audit": audit}),
        )
        for audit, status, summary in found
    ]


def round_audits(round_: Any) -> RoundAudits:
    """The run bound to a round: the one frozen in it, else the newest succeeded run over the
    round's inputs (a run requested at submission finishes after the round froze)."""
    snapshot = round_.snapshot
    if not snapshot.get("image_sets"):
        return RoundAudits(state="no_images")
    runs = AuditRun.objects.filter(project_id=round_.project_id).defer("results")
    frozen = snapshot.get("audit_results") or {}
    if frozen.get("run"):
        run = runs.filter(pk=frozen["run"]).first()
    else:
        run = (
            runs.filter(status=RunStatus.SUCCEEDED, input_digest=snapshot.get("audit_input_digest", ""))
            .order_by("-finished_at", "-pk")
            .first()
        )
    if run is not None and run.status == RunStatus.SUCCEEDED:
        return RoundAudits(state="ready", run=run, audits=_finished_summaries(run))
    waiting = (
        AuditRun.objects.filter(
            project_id=round_.project_id,
            input_digest=snapshot.get("audit_input_digest", ""),
            status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
        ).exists()
        if snapshot.get("audit_input_digest")
        else False
    )
    return RoundAudits(state="pending" if waiting else "missing")


def run_metrics(run: AuditRun | None) -> dict[str, dict[str, float]]:
    """Each audit's scalar numeric metrics in a run (for the change between two rounds)."""
    if run is None:
        return {}
    keys = {f"m_{audit}": KeyTransform("metrics", KeyTransform(audit, "results")) for audit in AUDITS}
    row = AuditRun.objects.filter(pk=run.pk).annotate(**keys).values(*keys).first() or {}
    metrics: dict[str, dict[str, float]] = {}
    for audit in AUDITS:
        values = row.get(f"m_{audit}")
        if isinstance(values, dict):
            metrics[audit] = {
                name: float(value)
                for name, value in values.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            }
    return metrics
