"""The reports machinery: catalog coverage, comparison tables, claims ledger, index, job graph, run summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from anomaly3d import paper_results as pr
from anomaly3d.metrics import EvaluationResult, write_results_csv
from anomaly3d.reports import catalog as cat
from anomaly3d.reports import jobs as jobs_mod
from anomaly3d.reports.claims import Claim, check_claim, claims_markdown, load_claims
from anomaly3d.reports.compare import collect_results, comparison_table
from anomaly3d.reports.index import comparison_entries, write_claims, write_comparison, write_index
from anomaly3d.reports.jobs import Job, build_jobs, run_dir


def test_catalog_covers_every_table_and_figure_of_every_paper():
    entries = cat.catalog()
    keys = {(e.paper, e.artefact, e.id) for e in entries}
    for t in pr.list_tables():
        assert (t.paper, "table", t.id) in keys
    for f in pr.list_figures():
        assert (f.paper, "figure", f.id) in keys
    for e in entries:
        assert e.mode in {"comparison", "produced", "not produced"}
        if e.mode == "not produced":
            assert e.reason
        if e.mode == "comparison":
            assert e.table.kind == "main" and e.table.dataset in cat.COMPARABLE_DATASETS


def test_method_status():
    assert cat.method_status("BTF(FPFH)") == "ours"
    assert cat.method_status("3D-ST64") == "ours" and "d = 64" in cat.method_status("3D-ST128")
    assert cat.method_status("Group3AD") == cat.method_status("PatchCore(PointMAE)") == "ours"
    assert cat.method_status("Reg3D-AD") == "ours"
    assert cat.method_status("PO3AD") == "ours"
    assert cat.method_status("IMRNet") == "ours"
    assert "quoted" in cat.method_status("M3DM")


def _frame(rows: list[tuple[str, str, str, int, float]], *, embedded: bool = True) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["method", "dataset", "category", "seed", "O-AUROC"])
    df["profile"] = "smoke"
    df["job"] = "j" + df["seed"].astype(str)
    df["data_source"] = "embedded" if embedded else "/data/real"
    df["embedded"] = embedded
    df["run_time_s"] = 10.0
    return df


def test_comparison_table_converts_percent_tables_and_averages_seeds():
    table = pr.get_table("po3ad", "table1")  # percent scale, Anomaly-ShapeNet O-AUROC
    ours = _frame([
        ("BTF(FPFH)", "anomaly-shapenet", "bottle", 0, 0.6), ("BTF(FPFH)", "anomaly-shapenet", "gear", 0, 0.8),
        ("BTF(FPFH)", "anomaly-shapenet", "bottle", 1, 0.5), ("BTF(FPFH)", "anomaly-shapenet", "gear", 1, 0.5),
        ("BTF(FPFH)", "real3d-ad", "gear", 0, 0.99),  # another dataset: ignored
    ])
    out = comparison_table(table, ours)
    row = out[(out["method"] == "BTF(FPFH)") & (out["metric"] == "O-AUROC")].iloc[0]
    paper = pr.paper_values("po3ad", "table1", metric="O-AUROC", method="BTF(FPFH)", category="mean")["value"]
    assert row["paper"] == pytest.approx(float(paper.iloc[0]) / 100)
    assert row["ours"] == pytest.approx(np.mean([0.7, 0.5]))
    assert row["ours_std"] == pytest.approx(np.std([0.7, 0.5], ddof=1))
    assert row["delta"] == pytest.approx(row["ours"] - row["paper"])
    assert row["seeds"] == "0 1" and "embedded" in row["status"]
    raw = out[out["method"] == "BTF(Raw)"].iloc[0]
    assert np.isnan(raw["ours"]) and raw["status"].startswith("not run")
    po3ad = out[out["method"] == "PO3AD"].iloc[0]  # ours, but no result in this frame
    assert np.isnan(po3ad["ours"]) and po3ad["status"].startswith("not run")
    assert set(out["category"]) == {"mean"}  # embedded categories are not the paper's


def test_comparison_table_on_real_data_adds_per_category_rows():
    table = pr.get_table("imrnet", "table3")
    ours = _frame([("BTF(Raw)", "anomaly-shapenet", "ashtray0", 0, 0.5)], embedded=False)
    out = comparison_table(table, ours)
    cell = out[(out["method"] == "BTF(Raw)") & (out["category"] == "ashtray0")].iloc[0]
    paper = pr.paper_values("imrnet", "table3", method="BTF(Raw)", category="ashtray0")["value"].iloc[0]
    assert cell["paper"] == pytest.approx(paper) and cell["ours"] == 0.5 and cell["status"] == "ours (real data)"


def _claim(**kw) -> Claim:
    base = {"id": "c", "paper": "imrnet", "source": "Table 3", "claim": "A > B", "dataset": "anomaly-shapenet",
            "metric": "O-AUROC", "ours": ("A", "B"), "waiting_for": "x", "paper_rows": ()}
    return Claim(**{**base, **kw})


def test_claim_verdicts():
    rows = [("A", "anomaly-shapenet", "c1", s, a) for s, a in [(0, 0.9), (1, 0.8), (2, 0.4)]]
    rows += [("B", "anomaly-shapenet", "c1", s, b) for s, b in [(0, 0.5), (1, 0.6), (2, 0.5)]]
    ours = _frame(rows)
    r = check_claim(_claim(), ours)
    assert r.verdict == "reproduced" and r.per_seed == {0: True, 1: True, 2: False}
    r = check_claim(_claim(ours=("B", "A")), ours)
    assert r.verdict == "not reproduced"
    r = check_claim(_claim(ours=("A", "C")), ours)
    assert r.verdict == "not run"
    md = claims_markdown([r], profile="smoke")
    assert "waiting for x" in md and "0 reproduced" in md


def test_shipped_claims_load_and_their_paper_rows_resolve():
    claims = load_claims()
    assert len(claims) >= 10 and {c.paper for c in claims} == set(pr.PAPERS)
    empty = _frame([])
    for c in claims:
        r = check_claim(c, empty)
        assert r.verdict == "not run"
        # every paper row names a real table/method/setting (values may be missing: PO3AD Table 4 has none)
        for row in c.paper_rows:
            table_id, method, setting = row.split("|")
            sel = pr.paper_values(c.paper, table_id, method=method, setting=setting, metric=c.metric)
            assert len(sel), f"{c.id}: {row} matches nothing"


def test_bad_claims_file_names_the_file(tmp_path):
    bad = tmp_path / "claims.toml"
    bad.write_text('[[claim]]\nid = "x"\n')
    with pytest.raises(ValueError, match=r"claims.toml: claim #1 \(x\) misses"):
        load_claims(bad)


def _fake_job_run(reports: Path, profile: str, job: Job, results: list[EvaluationResult]) -> None:
    rdir = run_dir(profile, job.name, reports)
    rdir.mkdir(parents=True)
    prov = {"data_source": "embedded test data", "embedded_data": True, "profile": profile, "seed": job.seed}
    (rdir / "result.json").write_text(json.dumps({"provenance": prov, "tables": []}))
    (rdir / "runtime.json").write_text(json.dumps({"seconds": 12.5}))
    write_results_csv(results, rdir / "btf_results.csv")


def test_index_lists_every_table_and_figure_and_missing_jobs(tmp_path):
    jobs = [
        Job("base", "06_baselines", "t", {"dataset": "anomaly-shapenet"}, 0, results=("btf_results",)),
        Job("never-ran", "06_baselines", "t", {"dataset": "real3d-ad"}, 0, results=("btf_results",)),
    ]
    res = [EvaluationResult(m, "anomaly-shapenet", "bottle", "smoke", 0, {"O-AUROC": v, "P-AUROC": v})
           for m, v in [("BTF(Raw)", 0.6), ("BTF(FPFH)", 0.7)]]
    _fake_job_run(tmp_path, "smoke", jobs[0], res)
    assert len(collect_results(tmp_path, "smoke", jobs)) == 2
    for e in comparison_entries():
        write_comparison(e, tmp_path, "smoke", jobs)
    write_claims(tmp_path, "smoke", jobs)
    readme = write_index(tmp_path, "smoke", jobs).read_text()
    for e in cat.catalog():
        assert f"**{e.label}** ({e.artefact})" in readme
    assert "**missing**" in readme and "never-ran/log.txt" in readme
    imrnet3 = (tmp_path / "tables" / "imrnet_table3.md").read_text()
    assert "| BTF(FPFH) | O-AUROC | 0.528 | 0.700 |" in imrnet3
    claims = (tmp_path / "claims.md").read_text()
    assert "BTF(FPFH) 0.700, BTF(Raw) 0.600" in claims


def test_build_jobs_unique_and_real_data_skips_extra_seeds(tmp_path):
    jobs = build_jobs("quick", 0)
    assert len({j.name for j in jobs}) == len(jobs)
    assert any(j.name.endswith("-seed2") and j.dataset == "real3d-ad" for j in jobs)
    real = build_jobs("quick", 0, {"real3d-ad": str(tmp_path)})
    assert not any(j.dataset == "real3d-ad" and "seed" in j.name for j in real)
    assert all(j.parameters["data_root"] == str(tmp_path) for j in real if j.dataset == "real3d-ad")


def test_code_stamp_follows_the_code(tmp_path, monkeypatch):
    (tmp_path / "methods").mkdir()
    f = tmp_path / "methods" / "m.py"
    f.write_text("a = 1\n")
    monkeypatch.setattr(jobs_mod, "LIB_DIR", tmp_path)
    monkeypatch.setattr(jobs_mod, "_BASE_CODE", ())
    first = jobs_mod.code_stamp(("methods",))
    assert jobs_mod.code_stamp(("methods",)) == first
    f.write_text("a = 2\n")
    assert jobs_mod.code_stamp(("methods",)) != first


def test_run_summary_classifies_jobs(tmp_path, monkeypatch):
    from anomaly3d.reports import __main__ as cli

    monkeypatch.setattr(cli, "REPORTS_DIR", tmp_path / "reports")
    monkeypatch.setattr(cli, "REPO_ROOT", tmp_path)
    jobs = [Job(n, "00_tour", "t") for n in ("ran", "cached", "failed")]
    for n in ("ran", "cached"):
        d = run_dir("smoke", n, tmp_path / "reports")
        d.mkdir(parents=True)
        (d / "result.json").write_text("{}")
    before = cli._stamps(jobs, "smoke")
    before["ran"] = -1.0  # as if it had changed during the run
    (run_dir("smoke", "ran", tmp_path / "reports") / "runtime.json").write_text('{"seconds": 3}')
    text, failed = cli.summarize(jobs, "smoke", before)
    assert failed == 1
    assert "ran     ran" in text and "cached  cached" in text and "FAILED  failed" in text
