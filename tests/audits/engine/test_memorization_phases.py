"""The memorization audit split into phases (issue 13): blocks of queries and references, as chunk
tasks run them, give exactly the in-process result, copies included."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audits.engine import memorization as mem
from audits.engine.memorization.geometry import best_columns
from audits.engine.types import AuditResult, ImageSet
from tests.audits.engine import memo_data as md


@pytest.fixture(scope="module")
def sets() -> dict[str, list]:
    natives = md.smooth_fields(30, seed=21)
    reference = [md.make_image(f, f"r{i:03d}.png") for i, f in enumerate(natives)]
    # a duplicate reference image: ties in every search, which must not depend on the blocks
    reference.append(md.make_image(natives[4], "r_dup.png"))
    novel = [md.make_image(f, f"s{i:03d}.png") for i, f in enumerate(md.smooth_fields(20, seed=22))]
    copies = [
        md.make_image(np.ascontiguousarray(natives[2][:, ::-1]), "copy_mirrored.png"),
        md.make_image(md.with_gamma(natives[7]), "copy_gamma.png"),
        md.make_image(natives[11], "copy_exact.png"),
    ]
    holdout = [md.make_image(f, f"h{i:03d}.png") for i, f in enumerate(md.smooth_fields(14, seed=23))]
    return {"synthetic": [*novel[:9], *copies, *novel[9:]], "reference": reference, "holdout": holdout}


def _pixels(images: list) -> np.ndarray:
    return np.stack([image.pixels for image in images]).astype(np.float32)


def _in_blocks(synthetic: ImageSet, reference: ImageSet, holdout: ImageSet | None, params: dict) -> AuditResult:
    """(a) and (b) per query block of 7 against reference blocks of 9, then (c): as the app's tasks do."""
    p = mem.resolve_params(params)
    r_used = reference.usable
    r_pixels = _pixels(r_used)
    h_used = [] if holdout is None else holdout.usable
    plan = mem.baseline_plan([i.pixel_sha256 for i in r_used], [i.pixel_sha256 for i in h_used], p)
    groups = mem.duplicate_groups([i.pixel_sha256 for i in r_used]) if plan.kind == "train_loo" else None
    queries = {
        "synthetic": (_pixels(synthetic.usable), None),
        "baseline": (
            _pixels([h_used[i] for i in plan.rows]) if plan.kind == "holdout" else r_pixels[plan.rows],
            None if groups is None else groups[plan.rows],
        ),
    }
    scores = {}
    for which, (pixels, query_groups) in queries.items():
        blocks = []
        for start in range(0, len(pixels), 7):
            ref_blocks = [
                (a, r_pixels[a : a + 9], None if groups is None else groups[a : a + 9])
                for a in range(0, len(r_used), 9)
            ]
            blocks.append(
                mem.search_block(
                    pixels[start : start + 7],
                    ref_blocks,
                    lambda rows: r_pixels[rows],
                    p,
                    query_groups=None if query_groups is None else query_groups[start : start + 7],
                )
            )
        # through the arrays a task stores
        stored = [mem.BlockScores.from_arrays(block.arrays()) for block in blocks]
        scores[which] = mem.combine_scores(stored, p["search_transforms"])
    return mem.run_scored(synthetic, reference, holdout, p, scores)


def _json(result: AuditResult) -> str:
    data = result.as_dict()
    data.pop("timings")
    return json.dumps(data, sort_keys=True)


@pytest.mark.parametrize(("holdout", "transforms"), [(True, True), (False, True), (True, False)])
def test_blocks_give_the_in_process_result(sets: dict, holdout: bool, transforms: bool) -> None:
    synthetic = md.make_set("synthetic", sets["synthetic"])
    reference = md.make_set("reference", sets["reference"])
    held = md.make_set("holdout", sets["holdout"]) if holdout else None
    params = {"search_transforms": transforms, "blas_threads": 1}
    whole = mem.run(synthetic, reference, held, params)
    blocks = _in_blocks(synthetic, reference, held, params)
    assert _json(blocks) == _json(whole)
    found = {item["synthetic"]: item for item in whole.flagged}
    assert found["copy_exact.png"]["kind"] == "exact"
    assert found["copy_gamma.png"]["reference"] == "r007.png"
    if transforms:  # a mirrored copy is found only by the transform search
        assert found["copy_mirrored.png"]["reference"] == "r002.png"
        assert found["copy_mirrored.png"]["transform"] == "flip_lr"


def test_scores_of_the_wrong_length_are_refused(sets: dict) -> None:
    synthetic = md.make_set("synthetic", sets["synthetic"])
    reference = md.make_set("reference", sets["reference"])
    empty = mem.combine_scores([], True)
    with pytest.raises(ValueError, match="scores\\['synthetic'\\] must hold 23 rows"):
        mem.run_scored(synthetic, reference, None, {}, {"synthetic": empty, "baseline": empty})


def test_best_columns_breaks_ties_by_the_lower_column() -> None:
    values = np.array([[0.5, 0.9, 0.9, 0.9, 0.1], [1.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    assert best_columns(values, 2).tolist() == [[1, 2], [0, 1]]
    assert best_columns(values, 4).tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]
