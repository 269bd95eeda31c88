"""EvaluationResult serialization, CSV round trips, pivot tables and evaluate_category."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from anomaly3d.metrics import (
    O_AUPR,
    O_AUROC,
    P_AUPR,
    P_AUROC,
    P_AUROC_PER_SAMPLE,
    PRO_LIMITS,
    EvaluationResult,
    MetricWarning,
    au_pro_metrics,
    au_pro_name,
    au_pro_point_name,
    evaluate_category,
    mean_rank,
    read_results_csv,
    results_table,
    write_results_csv,
)
from sklearn import metrics as skm


def _result(method="PO3AD", category="airplane", seed=0, **metrics):
    return EvaluationResult(
        method=method,
        dataset="Real3D-AD",
        category=category,
        profile="quick",
        seed=seed,
        metrics=metrics or {O_AUROC: 0.75, O_AUPR: float("nan")},
        extras={"n_test": 12, "runtime_s": 3.5},
    )


def _same(a: EvaluationResult, b: EvaluationResult) -> bool:
    return (
        (a.method, a.dataset, a.category, a.profile, a.seed)
        == (b.method, b.dataset, b.category, b.profile, b.seed)
        and a.metrics.keys() == b.metrics.keys()
        and all(
            (math.isnan(v) and math.isnan(b.metrics[k])) or v == b.metrics[k] for k, v in a.metrics.items()
        )
    )


def test_json_round_trip_with_nan_and_curves(tmp_path):
    r = _result()
    r.curves = {"PRO": {"fpr": [0.0, 0.1], "pro": [0.0, 0.5]}}
    r = EvaluationResult.from_dict(r.to_dict())
    text = r.to_json(tmp_path / "r.json")
    data = json.loads(text)  # standard JSON: NaN written as null
    assert data["metrics"][O_AUPR] is None and data["seed"] == 0 and data["extras"]["n_test"] == 12
    for back in (EvaluationResult.from_json(text), EvaluationResult.from_json(tmp_path / "r.json")):
        assert _same(back, r)
        assert back.curves == r.curves and back.extras == r.extras
    assert "curves" not in r.to_dict(include_curves=False)


def test_csv_round_trip(tmp_path):
    results = [
        _result(),
        _result(method="BTF(FPFH)", seed=None, **{O_AUROC: 0.6, au_pro_name(0.3): 0.81234567890123}),
        _result(category="car", **{O_AUROC: 1 / 3}),
    ]
    results[1].extras = {"n_test": 12, "runtime_s": 3.5, "note": "NA"}  # "NA" is text, not missing
    path = write_results_csv(results, tmp_path / "sub" / "results.csv")
    back = read_results_csv(path)
    assert len(back) == 3
    for a, b in zip(results, back):
        assert (a.method, a.category, a.seed) == (b.method, b.category, b.seed)
        for name in set(a.metrics) | set(b.metrics):
            va, vb = a.metrics.get(name, float("nan")), b.metrics[name]
            assert (math.isnan(va) and math.isnan(vb)) or va == vb  # full float precision survives
        assert b.extras == a.extras
        assert isinstance(b.extras["n_test"], int)


def test_results_table_and_mean_rank():
    results = [
        _result(method=m, category=c, **{O_AUROC: v})
        for (m, c, v) in [("A", "x", 0.9), ("B", "x", 0.8), ("A", "y", 0.5), ("B", "y", 0.7)]
    ]
    table = results_table(results, O_AUROC)
    assert table.loc["x", "A"] == 0.9 and table.loc["y", "B"] == 0.7
    np.testing.assert_array_equal(mean_rank(table).loc[["A", "B"]].to_numpy(), [1.5, 1.5])
    dup = results + [_result(method="A", category="x", seed=1, **{O_AUROC: 0.7})]
    with pytest.raises(ValueError, match="several results"):
        results_table(dup, O_AUROC)
    assert results_table(dup, O_AUROC, duplicates="mean").loc["x", "A"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="no metric"):
        results_table(results, "P-AUROC")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": ""}, "method"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"metrics": {"method": 0.5}}, "reserved"),
        ({"metrics": {O_AUROC: "high"}}, "number"),
        ({"metrics": [0.5]}, "mapping"),
    ],
)
def test_invalid_results_raise(kwargs, match):
    base = {
        "method": "M",
        "dataset": "D",
        "category": "c",
        "profile": "smoke",
        "seed": 0,
        "metrics": {O_AUROC: 0.5},
    }
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        EvaluationResult(**base)


def test_read_errors(tmp_path):
    with pytest.raises(ValueError, match="no results CSV"):
        read_results_csv(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="lacks the column"):
        read_results_csv(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="lacks key"):
        EvaluationResult.from_dict({"method": "x"})


def test_evaluate_category_computes_every_metric():
    rng = np.random.default_rng(0)
    obj_labels = np.array([0, 0, 1, 1, 1, 0])
    obj_scores = rng.random(6) + obj_labels * 0.3
    point_labels = [np.zeros(50, np.uint8), (rng.random(60) < 0.2).astype(np.uint8)]
    point_scores = [rng.random(50), rng.random(60) + point_labels[1]]
    points = [rng.random((50, 3)), rng.random((60, 3))]
    masks = [np.zeros((16, 16)), np.pad(np.ones((4, 4)), 6)]
    maps = [rng.random((16, 16)), rng.random((16, 16)) + masks[1]]
    res = evaluate_category(
        method="M",
        dataset="synthetic",
        category="bottle",
        profile="smoke",
        seed=3,
        object_labels=obj_labels,
        object_scores=obj_scores,
        point_labels=point_labels,
        point_scores=point_scores,
        per_sample=True,
        points=points,
        point_pro_radius=0.2,
        anomaly_maps=maps,
        gt_masks=masks,
        keep_curves=True,
    )
    m = res.metrics
    assert m[O_AUROC] == pytest.approx(skm.roc_auc_score(obj_labels, obj_scores), abs=1e-12)
    y, s = np.concatenate(point_labels), np.concatenate(point_scores)
    assert m[P_AUROC] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m[P_AUPR] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    assert m[P_AUROC_PER_SAMPLE] == pytest.approx(
        skm.roc_auc_score(point_labels[1], point_scores[1]), abs=1e-12
    )
    for name, value in au_pro_metrics(maps, masks).items():
        assert m[name] == value
    assert all(au_pro_point_name(x) in m for x in PRO_LIMITS)
    assert set(res.curves) == {"ROC-object", "PRO"} and res.curves["PRO"]["fpr"][0] == 0.0
    assert res.seed == 3 and res.profile == "smoke"


def test_evaluate_category_input_errors():
    with pytest.raises(ValueError, match="both or neither of object_labels/object_scores"):
        evaluate_category(
            method="M", dataset="d", category="c", profile="smoke", seed=0, object_labels=[0, 1]
        )
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_category(method="M", dataset="d", category="c", profile="smoke", seed=0)
    with pytest.warns(MetricWarning):
        res = evaluate_category(
            method="M",
            dataset="d",
            category="c",
            profile="smoke",
            seed=0,
            object_labels=[0, 0],
            object_scores=[0.1, 0.2],
        )
    assert math.isnan(res.metrics[O_AUROC])
