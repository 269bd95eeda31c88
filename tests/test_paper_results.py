"""anomaly3d.paper_results: the shipped transcriptions validate, spot cells match the paper texts, and the
API (catalog, long/wide frames, scale conversion, validator, errors) behaves as documented."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from anomaly3d import paper_results as pr
from anomaly3d.data.formats import anomaly_shapenet, real3d
from anomaly3d.paper_results import _catalog

# ------------------------------------------------------------------------------------------ shipped data


def test_shipped_data_validates() -> None:
    assert pr.validate() == []


def test_every_paper_has_tables_in_paper_order() -> None:
    tables = pr.list_tables()
    assert [p for p in pr.PAPERS if any(t.paper == p for t in tables)] == list(pr.PAPERS)
    assert [t.paper for t in tables] == sorted((t.paper for t in tables), key=pr.PAPERS.index)
    for paper in pr.PAPERS:
        own = pr.list_tables(paper)
        assert len(own) >= 1
        assert {t.paper for t in own} == {paper}
        assert all(t.title and t.citation for t in own)
    assert [t.id for t in pr.list_tables("3d-st")] == ["table1", "table2", "table3", "table4"]


def test_paper_table_is_frozen_and_frames_itself() -> None:
    table = pr.get_table("group3ad", "table1")
    assert (table.label, table.dataset, table.kind) == ("Table 1", "real3d-ad", "main")
    assert table.scale == "fraction"
    assert table.path.name == "table1.csv" and table.path.is_file()
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.scale = "percent"  # type: ignore[misc]
    pd.testing.assert_frame_equal(table.frame(), pr.load_table("group3ad", "table1"))


def _cell(paper: str, table: str, method: str, category: str, metric: str, setting: str = "") -> pd.Series:
    rows = pr.paper_values(paper, table, metric=metric, method=method, setting=setting, category=category)
    assert len(rows) == 1, f"{paper}/{table}: {len(rows)} rows for {method}/{setting}/{category}/{metric}"
    return rows.iloc[0]


# Cells read by hand from /work/shared/papers/*.txt: (paper, table, method, setting, category, metric, printed).
SPOT_CELLS = [
    ("group3ad", "table1", "Group3AD", "", "fish", "O-AUROC", "0.976"),  # 'Group3AD(Ours)' row
    ("group3ad", "table1", "Group3AD", "", "mean", "O-AUROC", "0.751"),
    ("group3ad", "table4", "Group3AD", "", "seahorse", "P-AUPR", "0.24"),  # printed with two decimals
    ("group3ad", "table5", "PatchCore(PointMAE)", "iun_ian=on;agcs=off", "toffees", "P-AUPR", "0.12"),
    ("imrnet", "table3", "IMRNet", "", "microphone0", "O-AUROC", "0.755"),  # column printed 'phone'
    ("imrnet", "table3", "Reg3D-AD", "", "vase7", "O-AUROC", "0.462"),
    ("imrnet", "table3", "IMRNet", "", "mean", "O-AUROC", "0.661"),  # mean split over two lines in the text
    ("imrnet", "table2", "Reg3D-AD", "", "candybar", "O-AUROC", "0.685"),  # 'RegAD', column 'Candy'
    ("3d-st", "table1", "3D-ST64", "", "mean", "AU-PRO@0.3", "0.818"),
    ("3d-st", "table1", "Depth GAN", "", "mean", "AU-PRO@0.3", "0.143"),
    ("3d-st", "table3", "3D-ST", "sweep=feature_dim;d=128;k=32;n=64000", "all", "time-s", "0.093"),
    ("po3ad", "table3", "Group3AD", "", "toffees", "O-AUROC", "79.6"),  # underlined in the text
    ("po3ad", "table3", "PO3AD", "", "all", "mean-rank", "3.2"),
    ("po3ad", "table1", "PO3AD", "", "ashtray0", "O-AUROC", "100.0"),
    ("shape-guided", "table2", "Shape-Guided(RGB)", "", "carrot", "AU-PRO@0.3", "0.96"),  # 'Ours (RGB)'
    ("shape-guided", "table2", "Shape-Guided", "", "foam", "AU-PRO@0.3", "0.978"),
    ("shape-guided", "table3", "Shape-Guided", "shape_guided=off", "all", "features-count", "208230"),
]


@pytest.mark.parametrize(("paper", "table", "method", "setting", "category", "metric", "printed"), SPOT_CELLS)
def test_spot_cells_match_paper_text(
    paper: str, table: str, method: str, setting: str, category: str, metric: str, printed: str
) -> None:
    row = _cell(paper, table, method, category, metric, setting)
    assert row["value_text"] == printed
    assert row["value"] == float(printed)


def test_unreadable_cell_is_nan_with_note() -> None:
    # IMRNet Table 3's helmet3 column has 9 values for 8 rows; the ambiguous PatchCore(PointMAE) cell is empty.
    row = _cell("imrnet", "table3", "PatchCore(PointMAE)", "helmet3", "O-AUROC")
    assert math.isnan(row["value"]) and row["value_text"] == "" and "helmet3" in row["note"]


def test_cross_paper_copy_agrees() -> None:
    # PO3AD's Real3D-AD table (percent) copies IMRNet's Table 2 (fraction) for every shared method.
    imrnet = pr.wide("imrnet", "table2", "O-AUROC")
    po3ad = pr.as_fraction(pr.wide("po3ad", "table3", "O-AUROC"), pr.get_table("po3ad", "table3"))
    shared = po3ad.loc[imrnet.index, imrnet.columns]
    np.testing.assert_allclose(shared.to_numpy(), imrnet.to_numpy(), atol=1e-9)


# ------------------------------------------------------------------------------------------ frames


def test_load_table_columns_types_and_copies() -> None:
    df = pr.load_table("po3ad", "table3")
    assert list(df.columns) == [
        "paper", "table", "method", "setting", "category", "metric", "value", "value_text", "note",
    ]  # fmt: skip
    assert df["value"].dtype == np.float64
    assert set(df["paper"]) == {"po3ad"} and set(df["table"]) == {"table3"}
    df.loc[:, "value"] = -1.0
    assert (pr.load_table("po3ad", "table3")["value"] >= 0).all()
    assert pr.load_table("po3ad", "table3") is not pr.load_table("po3ad", "table3")


def test_paper_values_filters() -> None:
    ranks = pr.paper_values("po3ad", "table1", metric="mean-rank")
    assert set(ranks["category"]) == {"all"} and len(ranks) == 10
    two = pr.paper_values("group3ad", "table5", method="Group3AD", metric=["O-AUROC", "P-AUPR"])
    assert set(two["setting"]) == {"iun_ian=on;agcs=on", "iun_ian=off;agcs=on"}
    assert list(two.index) == list(range(len(two)))
    assert pr.paper_values("group3ad", "table1", method="no-such-method").empty


def test_wide_orders_categories_officially_then_mean() -> None:
    w = pr.wide("group3ad", "table1", "O-AUROC")
    assert list(w.columns) == [*real3d.CATEGORIES, "mean"]
    assert w.index[0] == "BTF(Raw)" and w.index[-1] == "Group3AD"  # the paper's row order
    assert w.loc["Group3AD", "mean"] == 0.751
    assert all(dtype == np.float64 for dtype in w.dtypes)
    # IMRNet prints Anomaly-ShapeNet in its own order (cap0, cap3, helmet3, ...); wide() uses the official one.
    w = pr.wide("imrnet", "table3", "O-AUROC")
    assert list(w.columns) == [*anomaly_shapenet.CATEGORIES, "mean"]
    # Group3AD Table 8 uses the newer categories (named in its notes): kept in printed order before the mean.
    w = pr.wide("group3ad", "table8", "O-AUROC")
    assert list(w.columns)[:2] == ["cabinet0", "cap1"] and list(w.columns)[-1] == "mean"


def test_wide_settings_and_tables_without_categories() -> None:
    w = pr.wide("group3ad", "table5", "P-AUPR", setting="iun_ian=off;agcs=on")
    assert list(w.index) == ["Group3AD"] and w.loc["Group3AD", "mean"] == 0.115
    ranks = pr.wide("po3ad", "table3", "mean-rank")
    assert list(ranks.columns) == ["all"] and ranks.loc["PO3AD", "all"] == 3.2
    with pytest.raises(pr.UnknownNameError, match="O-AUROC"):
        pr.wide("group3ad", "table1", "P-AUROC")
    with pytest.raises(KeyError, match="iun_ian=on;agcs=on"):
        pr.wide("group3ad", "table5", "O-AUROC")  # no plain rows: the message lists the settings


def test_as_fraction() -> None:
    assert pr.as_fraction(83.9, "percent") == pytest.approx(0.839)
    assert pr.as_fraction(0.751, "fraction") == 0.751
    np.testing.assert_allclose(pr.as_fraction([50.0, 100.0], "percent"), [0.5, 1.0])
    w = pr.wide("po3ad", "table1", "O-AUROC")
    f = pr.as_fraction(w, pr.get_table("po3ad", "table1"))
    assert isinstance(f, pd.DataFrame) and f.loc["PO3AD", "mean"] == pytest.approx(0.839)
    assert w.loc["PO3AD", "mean"] == 83.9  # input untouched
    for scale in ("other", "seconds"):
        with pytest.raises(ValueError, match="score scale"):
            pr.as_fraction(1.0, scale)


# ------------------------------------------------------------------------------------------ errors


def test_unknown_names_list_valid_ones() -> None:
    with pytest.raises(KeyError) as err:
        pr.get_table("po4ad", "table1")
    assert all(p in str(err.value) for p in pr.PAPERS)
    with pytest.raises(ValueError, match="table1, table2, table3, table4") as err:
        pr.load_table("3d-st", "table9")
    assert isinstance(err.value, KeyError)
    with pytest.raises(pr.UnknownNameError, match="shape-guided"):
        pr.list_tables("shapeguided")


# ------------------------------------------------------------------------------------------ validator


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the data folder, installed as the package's data directory."""
    root = tmp_path / "data"
    shutil.copytree(pr.data_dir(), root)
    monkeypatch.setattr(_catalog, "DATA_DIR", root)
    return root


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_validate_reports_corrupted_csv_with_file_name(data_copy: Path) -> None:
    assert pr.validate() == []
    csv = data_copy / "group3ad" / "table1.csv"
    _replace(csv, "BTF(Raw),,car,O-AUROC,0.560,", "BTF(Raw),,car,O-AUROC,0.56o,")
    _replace(csv, "BTF(Raw),,fish,O-AUROC,0.549,", "BTF(Raw),,fishy,O-AUROC,0.549,")
    _replace(csv, "BTF(Raw),,duck,O-AUROC,0.784,", "BTF(Raw),,duck,O-AUC,0.784,")
    _replace(csv, "BTF(Raw),,shell,O-AUROC,0.754,", "BTF(Raw),,shell,O-AUROC,,")
    _replace(csv, "BTF(Raw),,seahorse,O-AUROC,0.779,", "BTF(Raw),,seahorse,O-AUROC,77.9,")
    _replace(csv, "BTF(Raw),,gemstone,O-AUROC,0.648,", "BTF(Raw),,airplane,O-AUROC,0.648,")
    problems = pr.validate()
    assert all("group3ad/table1.csv:" in p for p in problems), problems
    text = "\n".join(problems)
    needles = ("'0.56o' is not a number", "'fishy'", "'O-AUC'", "empty and note", "outside 0..1", "duplicate")
    for needle in needles:
        assert needle in text, (needle, problems)
    assert len(problems) == 6
    assert pr.validate(data_copy) == problems  # an explicit root gives the same answer


def test_validate_reports_structure_problems(data_copy: Path) -> None:
    header_only = "method,setting,category,metric,value,note\n"
    (data_copy / "po3ad" / "table7.csv").write_text(header_only, encoding="utf-8")
    (data_copy / "3d-st" / "table4.csv").unlink()
    _replace(data_copy / "imrnet" / "table4.csv", "method,setting", "method,settings")
    _replace(data_copy / "shape-guided" / "tables.toml", 'kind = "timing"', 'kind = "speed"')
    _replace(data_copy / "group3ad" / "table9.csv", "alpha=0.1", "alpha0.1")
    _replace(data_copy / "3d-st" / "table2.csv", "AU-PRO@0.1,", "AU-PRO@0.10,")
    text = "\n".join(pr.validate())
    assert "po3ad/table7.csv: no [[table]] entry" in text
    assert "3d-st/tables.toml: [[table]] 'table4' has no CSV file" in text
    assert "imrnet/table4.csv:1: header" in text
    assert "shape-guided/tables.toml" in text and "'speed'" in text
    assert "group3ad/table9.csv:2: setting 'alpha0.1'" in text
    assert "3d-st/table2.csv" in text and "'AU-PRO@0.10'" in text
    with pytest.raises(pr.PaperDataError, match="imrnet/table4.csv"):
        pr.load_table("imrnet", "table4")


def test_extra_categories_come_from_notes_or_key(data_copy: Path) -> None:
    toml = data_copy / "group3ad" / "tables.toml"
    listed = "(cabinet0 cap1 cap2 chair0 cup2 desk0 knife0 knife1 microphone1 screen0 vase10 vase6)"
    _replace(toml, listed, "")
    problems = pr.validate()
    assert len(problems) == 12 * 2 and all("group3ad/table8.csv" in p for p in problems)
    assert any("'cabinet0'" in p for p in problems)
    names = '"cabinet0", "cap1", "cap2", "chair0", "cup2", "desk0", "knife0", "knife1", "microphone1", '
    names += '"screen0", "vase10", "vase6"'
    _replace(toml, 'id = "table8"', f'id = "table8"\nextra_categories = [{names}]')
    assert pr.validate() == []
    assert pr.get_table("group3ad", "table8").extra_categories[0] == "cabinet0"


def test_undocumented_custom_metric_is_reported(data_copy: Path) -> None:
    _replace(data_copy / "group3ad" / "tables.toml", "Metric 'auroc-gain' is", "Metric 'gain' is")
    problems = pr.validate()
    assert len(problems) == 3 and all("group3ad/table9.csv" in p and "'auroc-gain'" in p for p in problems)


def test_figures_are_listed_for_every_paper_with_valid_kinds_and_source_tables():
    figs = pr.list_figures()
    assert {f.paper for f in figs} == set(pr.PAPERS)
    for f in figs:
        assert f.kind in pr.FIGURE_KINDS
        if f.source_table:
            pr.get_table(f.paper, f.source_table)  # raises if the referenced table does not exist
    po3ad_results = [f.label for f in pr.list_figures("po3ad", kind="result")]
    assert "Figure 5" in po3ad_results and "Figure 7" in po3ad_results
    with pytest.raises(pr.UnknownNameError, match="expected one of"):
        pr.list_figures("nope")
