"""The thresholds a person can set: built on the engine's declarations, checked on the form,
never a compute setting, frozen with the round once the project is submitted; and metric
names in words on the audit pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from audits import metric_labels
from audits.engine import disclosure, manifest
from audits.enums import AuditName, RunStatus, SetRole
from audits.models import AuditConfig, AuditRun
from audits.rules import can_change_audit_thresholds
from audits.selectors import current_input_digest, latest_results, round_audits
from audits.services.config import ThresholdsFrozen, UnknownParameter, audit_config_update
from audits.services.runs import audit_run_request
from audits.thresholds import audit_defaults, declared_thresholds, usable_thresholds
from reviews.enums import EDITABLE_STATUSES, Action, Meaning, ProjectStatus, Verdict
from reviews.models import ActivityEntry, Project, User
from reviews.selectors.diff import diff_snapshots
from reviews.services.projects import project_submit
from tests.audits.test_pages import CT_SMALL, SYNTHETIC_NAME, add_run, add_set, make_result
from tests.factories import ProjectFactory
from tests.workflow import review, reviewers_on, sign, submitted

pytestmark = pytest.mark.django_db

PASS_LABEL = disclosure.THRESHOLDS["pass_fraction"].label
WARN_LABEL = disclosure.THRESHOLDS["warn_fraction"].label


def _url(project: Project) -> str:
    return reverse("audit-thresholds", kwargs={"pk": project.pk})


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def with_images(project: Project, researcher: User) -> Project:
    add_set(project, researcher, SetRole.SYNTHETIC, {SYNTHETIC_NAME: CT_SMALL.read_bytes()})
    return project


# ---------------------------------------------------------------------------------------
# The form: only declared thresholds, each with its type, bounds, words and code name


def test_the_form_shows_each_declared_threshold_in_words_and_no_compute_setting(project, researcher):
    page = _client(researcher).get(_url(project)).content.decode()
    declared = declared_thresholds()
    for audit, settings in declared.items():
        for name in settings:
            assert f'name="{audit}__{name}"' in page
            assert escape(metric_labels.label(name, audit)) in page and f"<code>{name}</code>" in page
        for name in audit_defaults()[audit]:
            if name not in settings:  # compute settings: block sizes, seeds, sample caps, threads
                assert f'name="{audit}__{name}"' not in page
    # These sized the work on the old form: a person could set a block size or a seed.
    for field in ("memorization__block", "memorization__seed", "fidelity__n_bootstrap", "fidelity__k"):
        assert f'name="{field}"' not in page
    # Bounds reach the browser and the help text.
    assert 'name="disclosure__pass_fraction"' in page and 'min="0" max="1"' in page
    assert "Default 1; from 0 to 1." in page


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("1.5", f"{PASS_LABEL} (pass_fraction) must be at most 1, got 1.5"),
        ("-0.1", f"{PASS_LABEL} (pass_fraction) must be at least 0, got -0.1"),
        ("high", f"{PASS_LABEL} (pass_fraction): enter a number."),
        ("nan", f"{PASS_LABEL} (pass_fraction): enter a number."),
        ("1e400", f"{PASS_LABEL} (pass_fraction): enter a number."),
    ],
)
def test_a_value_out_of_bounds_or_of_the_wrong_type_is_refused_naming_the_field(project, researcher, value, error):
    response = _client(researcher).post(_url(project), {"disclosure__pass_fraction": value})
    page = response.content.decode()
    assert response.status_code == 400
    assert error in page and "Nothing was saved" in page
    assert f'value="{value}"' in page  # what was typed stays in the field
    assert not AuditConfig.objects.exists()


@pytest.mark.parametrize(
    "value",
    ["<script>alert('xss')</script>", "7" * 25_000, "Infinity", "-inf", "0x10", "1,5", "1.5.2", "\x00"],
    ids=["script", "long", "infinity", "minus-inf", "hex", "comma", "two-dots", "nul"],
)
def test_hostile_values_are_refused_and_shown_escaped(project, researcher, value):
    fields = {"disclosure__pass_fraction": value, "evil__<b>": value}
    whole = next(
        (
            f"{audit}__{name}"
            for audit, settings in declared_thresholds().items()
            for name, setting in settings.items()
            if setting.kind == "int"
        ),
        None,
    )
    if whole is not None:
        fields[whole] = value
    response = _client(researcher).post(_url(project), fields)
    page = response.content.decode()
    assert response.status_code == 400
    assert "<script>alert" not in page and "<b>" not in page
    assert not AuditConfig.objects.exists()


def test_values_that_contradict_each_other_are_refused_in_their_audits_section(project, researcher):
    response = _client(researcher).post(
        _url(project), {"manifest__pass_coverage": "0.9", "manifest__warn_coverage": "0.99"}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "warn_coverage, 0.99) must not be above" in page
    assert not AuditConfig.objects.exists()
    with pytest.raises(ValueError, match="must not be above"):
        manifest.run(None, [], {"pass_coverage": 0.9, "warn_coverage": 0.99})  # type: ignore[arg-type]


def test_a_saved_threshold_is_stored_only_if_it_differs_logged_and_given_to_the_next_run(
    with_images, researcher, django_capture_on_commit_callbacks
):
    project = with_images
    client = _client(researcher)
    response = client.post(
        _url(project),
        {"disclosure__pass_fraction": "1", "disclosure__warn_fraction": "0.9", "memorization__block": "64"},
    )
    assert response.status_code == 302
    config = AuditConfig.objects.get(project=project)
    assert config.params == {"disclosure": {"warn_fraction": 0.9}}
    entry = ActivityEntry.objects.get(project=project, object_type="audits.auditconfig")
    assert entry.action == Action.CHANGE
    assert entry.old == {"disclosure.warn_fraction": 0.95} and entry.new == {"disclosure.warn_fraction": 0.9}
    with django_capture_on_commit_callbacks(execute=False):
        run = audit_run_request(project=project, actor=researcher, reason="test")
    assert run.params["audits"]["disclosure"] == {"pass_fraction": 1.0, "warn_fraction": 0.9}
    assert "block" not in run.params["audits"].get("memorization", {})
    run_page = client.get(run.get_absolute_url()).content.decode()
    assert f"the engine's defaults except 1 set by the project: {WARN_LABEL}" in run_page
    # An empty field is the default again: nothing stays stored.
    client.post(_url(project), {"disclosure__warn_fraction": ""})
    config.refresh_from_db()
    assert config.params == {}


def test_saving_the_form_unchanged_stores_nothing_even_where_the_field_shows_a_rounded_default(project, researcher):
    """A default such as log 2 is shown to six digits; sending the page back as shown keeps it."""
    client = _client(researcher)
    page = client.get(_url(project)).content.decode()
    shown = dict(re.findall(r'name="([a-z_]+__[a-z_0-9]+)" value="([^"]*)"', page))
    assert shown, "the form shows no value"
    response = client.post(_url(project), shown)
    assert response.status_code == 302
    assert not AuditConfig.objects.filter(project=project).exclude(params={}).exists()


def _first(kind: str, *, can_be_off: bool = False) -> tuple[str, str, Any]:
    """(audit, threshold, setting) of the first declared threshold of this kind (with
    `can_be_off`: one that is on by default and may be switched off)."""
    defaults = audit_defaults()
    for audit, settings in declared_thresholds().items():
        for name, setting in settings.items():
            if setting.kind == kind and (not can_be_off or (setting.allow_none and defaults[audit][name] is not None)):
                return audit, name, setting
    raise AssertionError(f"no audit declares a {kind} threshold{' that can be switched off' if can_be_off else ''}")


def test_yes_no_choice_and_off_thresholds_are_set_by_their_own_fields(project, researcher):
    client = _client(researcher)
    flag_audit, flag, _ = _first("bool")
    choice_audit, choice, choice_setting = _first("choice")
    off_audit, off, _ = _first("float", can_be_off=True)
    defaults = audit_defaults()
    flag_value = not defaults[flag_audit][flag]
    other_choice = next(value for value, _words in choice_setting.choices if value != defaults[choice_audit][choice])
    data = {
        f"{flag_audit}__{flag}": "true" if flag_value else "false",
        f"{choice_audit}__{choice}": other_choice,
        f"{off_audit}__{off}": str(defaults[off_audit][off]),  # the number stays, the box wins
        f"{off_audit}__{off}__off": "on",
    }
    assert client.post(_url(project), data).status_code == 302
    stored = AuditConfig.objects.get(project=project).params
    assert stored[flag_audit][flag] is flag_value
    assert stored[choice_audit][choice] == other_choice
    assert stored[off_audit][off] is None
    page = client.get(_url(project)).content.decode()
    assert re.search(rf'name="{off_audit}__{off}__off"[^>]* checked', page)

    response = client.post(_url(project), {f"{flag_audit}__{flag}": "maybe", f"{choice_audit}__{choice}": "nonsense"})
    page = response.content.decode()
    assert response.status_code == 400
    assert ": choose yes or no." in page and ": choose one of the listed values." in page


def test_the_service_refuses_what_is_not_a_threshold_and_invalid_values(project, researcher):
    with pytest.raises(UnknownParameter, match=r"memorization\.block is not a threshold"):
        audit_config_update(project=project, actor=researcher, values={"memorization": {"block": 64}})
    with pytest.raises(UnknownParameter):
        audit_config_update(project=project, actor=researcher, values={"no_such_audit": {"x": 1}})
    for bad in (-1.0, 2.0, float("nan"), True, "0.5", None):
        with pytest.raises(ValueError, match="pass_fraction"):
            audit_config_update(project=project, actor=researcher, values={"disclosure": {"pass_fraction": bad}})
    assert not AuditConfig.objects.exists()


def test_stored_compute_settings_and_values_that_no_longer_validate_never_reach_the_engine(
    with_images, researcher, django_capture_on_commit_callbacks
):
    """An older row: the run uses the engine's values for these, and the page says which and why."""
    AuditConfig.objects.create(
        project=with_images,
        updated_by=researcher,
        params={
            "memorization": {"block": 7, "seed": 3},
            "fidelity": {"n_bootstrap": 1},
            "disclosure": {"pass_fraction": 7, "warn_fraction": 0.5},
            "manifest": {"pass_coverage": 0.9, "warn_coverage": 0.99},
            "retired_audit": {"x": 1},
        },
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = audit_run_request(project=with_images, actor=researcher, reason="test")
    given = run.params["audits"]
    assert given["disclosure"] == {"pass_fraction": 1.0, "warn_fraction": 0.5}
    assert given["manifest"] == {"pass_coverage": 1.0, "warn_coverage": 0.95}
    assert "block" not in given.get("memorization", {}) and "seed" not in given.get("memorization", {})
    assert "n_bootstrap" not in given.get("fidelity", {}) and "retired_audit" not in given
    for audit, values in given.items():  # every value is a declared threshold
        assert set(values) <= set(declared_thresholds()[audit])

    response = _client(researcher).get(_url(with_images))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Stored values the audits do not use" in page
    assert "<code>memorization.block</code> = 7" in page
    assert "<code>disclosure.pass_fraction</code> = 7" in page and "must be at most 1" in page
    assert "<code>retired_audit.x</code>" in page
    # The form shows the values in force, not the refused ones.
    assert 'name="disclosure__warn_fraction" value="0.5"' in page
    assert 'name="disclosure__pass_fraction" value="1"' in page


# ---------------------------------------------------------------------------------------
# Frozen with the round


@pytest.mark.parametrize("status", ProjectStatus.values)
def test_only_the_researcher_and_admins_change_thresholds_and_only_while_the_project_is_editable(
    catalogue, researcher, other_researcher, reviewer, admin_user, status
):
    project = ProjectFactory(owner=researcher, guideline_version=catalogue, status=status)
    editable = status in EDITABLE_STATUSES
    assert can_change_audit_thresholds(researcher, project) is editable
    assert can_change_audit_thresholds(admin_user, project) is editable
    assert not can_change_audit_thresholds(other_researcher, project)
    assert not can_change_audit_thresholds(reviewer, project)
    from django.contrib.auth.models import AnonymousUser

    assert not can_change_audit_thresholds(AnonymousUser(), project)


def test_thresholds_are_frozen_with_the_round_once_submitted(
    with_images, researcher, admin_user, django_capture_on_commit_callbacks
):
    project = with_images
    audit_config_update(project=project, actor=researcher, values={"disclosure": {"warn_fraction": 0.9}})
    with django_capture_on_commit_callbacks(execute=False):
        round_ = submitted(project)
    project.refresh_from_db()

    # The round records the thresholds it is judged by.
    frozen = round_.snapshot["audit_thresholds"]
    assert frozen["disclosure"] == {"pass_fraction": 1.0, "warn_fraction": 0.9}
    assert frozen["manifest"] == {"pass_coverage": 1.0, "warn_coverage": 0.95}

    # The researcher (or an admin) posting a change is refused with why; nothing changes.
    for user in (researcher, admin_user):
        response = _client(user).post(_url(project), {"disclosure__warn_fraction": "0.5"})
        page = response.content.decode()
        assert response.status_code == 403
        assert "frozen with round 1" in page and "Nothing was saved" in page
    assert AuditConfig.objects.get(project=project).params == {"disclosure": {"warn_fraction": 0.9}}
    with pytest.raises(ThresholdsFrozen, match="frozen with round 1"):
        audit_config_update(project=project, actor=researcher, values={"disclosure": {"warn_fraction": 0.5}})

    # The page shows them read-only, frozen with the round.
    page = _client(researcher).get(_url(project)).content.decode()
    assert "Frozen with round 1" in page and "Save thresholds" not in page
    assert re.search(
        rf'title="disclosure.warn_fraction">{re.escape(WARN_LABEL)}</span>'
        r'<div class="text-muted metric-help">[^<]+</div></td><td class="text-end fw-semibold">0.9</td>',
        page,
    )

    # The round page shows the same values as the thresholds its round froze.
    round_page = _client(researcher).get(round_.get_absolute_url()).content.decode()
    assert "Audit thresholds of this round" in round_page
    assert (
        f'<span class="metric-name" title="disclosure.warn_fraction">{WARN_LABEL}</span>: <strong>0.9</strong> '
        '<span class="text-muted">(default 0.95)</span>'
    ) in round_page

    # The run queued at submission and any run during review use the round's thresholds:
    # the Audits tab and the round page show the same run.
    run = AuditRun.objects.filter(project=project).order_by("-pk").first()
    assert run.params == {"audits": frozen}
    assert run.input_digest == round_.snapshot["audit_input_digest"] == current_input_digest(project)
    with django_capture_on_commit_callbacks(execute=False):
        again = audit_run_request(project=project, actor=researcher, reason="re-run during review")
    assert again.pk == run.pk
    results = {audit: make_result(audit, "pass") for audit in AuditName.values}
    AuditRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, results=results)
    tab = latest_results(project)
    assert tab is not None and tab.run.pk == round_audits(round_).run.pk == run.pk  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (ProjectStatus.APPROVED, "open an amendment to change them"),
        (ProjectStatus.REJECTED, "the project has ended"),
        (ProjectStatus.WITHDRAWN, "the project has ended"),
        (ProjectStatus.IN_REVIEW, "they can change again when reviewers request changes"),
    ],
)
def test_a_refused_save_says_when_the_thresholds_can_change_again(catalogue, researcher, status, why):
    project = ProjectFactory(owner=researcher, guideline_version=catalogue, status=status)
    response = _client(researcher).post(_url(project), {"disclosure__warn_fraction": "0.5"})
    page = response.content.decode()
    assert response.status_code == 403
    assert f"is {project.get_status_display().lower()}: {why}. Nothing was saved." in page
    assert not AuditConfig.objects.exists()


def test_a_save_racing_a_submission_is_refused_on_the_page(with_images, researcher, django_capture_on_commit_callbacks):
    """The page was loaded while editable; the project was submitted before the save."""
    project = with_images
    client = _client(researcher)
    assert "Save thresholds" in client.get(_url(project)).content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        submitted(project)
    response = client.post(_url(project), {"disclosure__warn_fraction": "0.5"})
    assert response.status_code == 403 and "frozen with round 1" in response.content.decode()
    assert not AuditConfig.objects.filter(project=project).exists()


def test_thresholds_open_again_when_changes_are_requested_and_the_next_round_shows_the_change(
    with_images, researcher, django_capture_on_commit_callbacks
):
    project = with_images
    with django_capture_on_commit_callbacks(execute=False):
        first = submitted(project)
        technical, _clinical = reviewers_on(project)
        review(first, technical, verdict=Verdict.MUST_CHANGE)
        sign(first, technical, Meaning.REQUEST_CHANGES)
    project.refresh_from_db()
    assert project.status == ProjectStatus.CHANGES_REQUESTED
    client = _client(researcher)
    assert "Save thresholds" in client.get(_url(project)).content.decode()
    assert client.post(_url(project), {"disclosure__warn_fraction": "0.9"}).status_code == 302
    with django_capture_on_commit_callbacks(execute=False):
        second = project_submit(actor=researcher, project=project)
    assert first.snapshot["audit_thresholds"]["disclosure"]["warn_fraction"] == 0.95
    assert second.snapshot["audit_thresholds"]["disclosure"]["warn_fraction"] == 0.9

    page = client.get(reverse("round-diff", kwargs={"pk": project.pk, "number": 2})).content.decode()
    assert "1 audit threshold changed" in page
    assert (
        f'<span class="metric-name" title="disclosure.warn_fraction">{WARN_LABEL}</span>: 0.95 → <strong>0.9</strong>'
        in page
    )


def test_rounds_frozen_before_thresholds_were_recorded_compare_none():
    old = {"round": 1, "answers": [], "image_sets": []}
    new = {"round": 2, "answers": [], "image_sets": [], "audit_thresholds": {"disclosure": {"pass_fraction": 1.0}}}
    diff = diff_snapshots(old, new)
    assert diff.thresholds == [] and not diff.thresholds_recorded and diff.is_empty
    off = diff_snapshots(
        {**new, "audit_thresholds": {"fidelity": {"precision_fail": 0.4}}},
        {**new, "audit_thresholds": {"fidelity": {"precision_fail": None}}},
    )
    assert [(c.code, c.before_text, c.after_text) for c in off.thresholds] == [
        ("fidelity.precision_fail", "0.4", "off")
    ]
    assert not off.is_empty


# ---------------------------------------------------------------------------------------
# Metric names in words, the code name in a tooltip


def _disclosure_result() -> dict[str, Any]:
    result = make_result("disclosure", "warn")
    result["metrics"] = {
        "frac_labelled_machine_readable": 0.8,
        "n_synthetic_yes_without_equipment": 2,
        "by_format": {"dicom": 3, "png": 2},
        "n_unheard_of_count": 4,
    }
    result["thresholds"] = {"frac_labelled_machine_readable": {"warn": 1.0, "fail": None, "direction": "below"}}
    return result


def test_the_audit_page_names_metrics_in_words_with_the_code_name_as_tooltip(with_images, researcher):
    run = add_run(with_images, results={audit: make_result(audit) for audit in AuditName.values} | {
        "disclosure": _disclosure_result()
    })  # fmt: skip
    url = reverse("audit-result", kwargs={"pk": with_images.pk, "run_pk": run.pk, "audit": "disclosure"})
    page = _client(researcher).get(url).content.decode()
    assert (
        '<span class="metric-name" title="n_synthetic_yes_without_equipment">'
        "Files marked synthetic without the generating equipment</span>"
    ) in page
    assert (
        '<span class="metric-name" title="frac_labelled_machine_readable">'
        "Share of files machine-readably marked as synthetic</span>"
    ) in page
    assert '<span class="metric-name" title="by_format.dicom">Files per format: dicom</span>' in page
    # A metric without a declared label still reads as words.
    assert '<span class="metric-name" title="n_unheard_of_count">Number of unheard of count</span>' in page
    assert 'font-monospace">n_synthetic_yes_without_equipment' not in page


def test_usable_thresholds_fill_every_declared_threshold_with_its_default():
    values, set_aside = usable_thresholds({})
    assert set_aside == []
    for audit, settings in declared_thresholds().items():
        assert set(values.get(audit, {})) == set(settings)
