"""The pipeline example (docs/pipeline/misyn_pipeline.py) against a live server and a real worker.

Both cases share one worker. The failing set is unlabelled synthetic PNGs: nothing in them
says they are synthetic, so the disclosure audit fails (AUDITS.md 1a) and the script exits 1;
the same slices carrying the IPTC "trainedAlgorithmicMedia" label pass it, no audit fails
(the others are not computable without a reference set), and it exits 0. The script's own
upload resends a chunk lost on the way from the offset the server reports.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.storage import storages

from api.enums import UploadStatus
from api.models import ChunkedUpload
from audits.enums import SetRole, SetStatus
from audits.models import ImageSet
from tests.api.client import make_token
from tests.audits.images import example4d, to_uint16, write_png
from tests.factories import ProjectFactory, ResearcherFactory

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "pipeline" / "misyn_pipeline.py"
pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def _slices(folder: Path, *, label: str | None) -> list[str]:
    volume = example4d()[..., 0]
    return [str(write_png(folder / f"synthetic-{k:02d}.png", to_uint16(volume[:, :, k]), label=label)) for k in (8, 12)]


def _pipeline(
    live_server, token: str, project_id: int, files: list[str], role: str = "synthetic"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--url", live_server.url, "--project", str(project_id), "--role", role,
         "--chunk-mb", "1", "--poll", "0.5", "--timeout", "120", *files],
        env={**os.environ, "MISYN_TOKEN": token}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_the_pipeline_fails_on_an_unlabelled_set_and_passes_a_labelled_one(live_server, start_worker, tmp_path):
    start_worker()
    owner = ResearcherFactory()
    _token, raw = make_token(owner)
    unlabelled, labelled = ProjectFactory(owner=owner), ProjectFactory(owner=owner)

    failing = _pipeline(live_server, raw, unlabelled.pk, _slices(tmp_path / "unlabelled", label=None))
    assert failing.returncode == 1, failing.stdout + failing.stderr
    disclosure = next(line for line in failing.stdout.splitlines() if line.startswith("disclosure"))
    assert disclosure.split()[1] == "fail"

    passing = _pipeline(live_server, raw, labelled.pk, _slices(tmp_path / "labelled", label="xmp"))
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert next(line for line in passing.stdout.splitlines() if line.startswith("disclosure")).split()[1] == "pass"
    assert not any(line.split()[1:2] == ["fail"] for line in passing.stdout.splitlines())

    for project in (unlabelled, labelled):
        current = ImageSet.objects.get(project=project, is_current=True)
        assert current.status == SetStatus.READY and current.n_accepted == 2

    # A reference set sent before any synthetic one is kept; there is nothing to audit yet.
    reference_first = ProjectFactory(owner=owner)
    kept = _pipeline(live_server, raw, reference_first.pk, _slices(tmp_path / "reference", label=None), "reference")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "no audit run yet" in kept.stdout and "synthetic" in kept.stdout
    assert ImageSet.objects.get(project=reference_first, is_current=True).role == SetRole.REFERENCE
    assert set(ChunkedUpload.objects.values_list("status", flat=True)) == {UploadStatus.USED}


def test_usage_and_http_errors_exit_2(live_server, tmp_path):
    image = write_png(tmp_path / "one.png")
    no_token = subprocess.run(
        [sys.executable, str(SCRIPT), "--url", live_server.url, "--project", "1", str(image)],
        env={k: v for k, v in os.environ.items() if k != "MISYN_TOKEN"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert no_token.returncode == 2 and "MISYN_TOKEN" in no_token.stderr
    owner = ResearcherFactory()
    _token, raw = make_token(owner)
    theirs = ProjectFactory()
    refused = _pipeline(live_server, raw, theirs.pk, [str(image)])
    assert refused.returncode == 2 and "HTTP 404" in refused.stderr
    assert not ChunkedUpload.objects.exists()


def _script_module():
    spec = importlib.util.spec_from_file_location("misyn_pipeline", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_resends_a_lost_chunk_from_the_servers_offset(live_server, tmp_path, capsys):
    pipeline = _script_module()
    owner = ResearcherFactory()
    _token, raw = make_token(owner)
    project = ProjectFactory(owner=owner)
    image = write_png(tmp_path / "one.png")
    api = pipeline.Api(live_server.url, raw)
    send, lost = api.call, []

    def connection_drops_once(method, path, body=None, headers=None):
        # The second chunk reaches the server but its answer is lost, the third never leaves.
        if method == "PUT" and len(lost) < 2 and headers["Content-Range"].startswith(("bytes 1024-", "bytes 2048-")):
            lost.append(headers["Content-Range"])
            if len(lost) == 1:
                send(method, path, body, headers)
            raise pipeline.ApiError(0, "connection reset by peer")
        return send(method, path, body, headers)

    api.call = connection_drops_once
    upload_id = pipeline.upload_file(api, project.pk, image, 1024)
    upload = ChunkedUpload.objects.get(pk=upload_id)
    assert len(lost) == 2 and upload.status == UploadStatus.COMPLETE
    assert Path(storages["private"].path(upload.stored_name)).read_bytes() == image.read_bytes()
    assert capsys.readouterr().err.count("resuming") == 2
