"""anomaly3d.reports.notebook.setup: parameter validation without starting a kernel."""

from __future__ import annotations

from pathlib import Path

import pytest
from anomaly3d.reports.notebook import NotebookParameterError, resolve_profile_name, setup

PARAMS_CELL = (
    'profile = "auto"\ndataset = "anomaly-shapenet"\ndata_root = None\ncategory = None\n'
    'device = "auto"\nseed = 0\noutput_dir = None\n'
)


def _namespace(tmp_path: Path, injected: str | None = None, **values: object) -> dict:
    ns: dict = {
        "profile": "auto", "dataset": "anomaly-shapenet", "data_root": None, "category": None,
        "device": "auto", "seed": 0, "output_dir": str(tmp_path / "out"),
    }
    history = ["", PARAMS_CELL]
    if injected is not None:
        history.append("# Parameters\n" + injected)
    ns["In"] = history
    ns.update(values)
    return ns


def test_defaults_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMALY3D_PROFILE", "smoke")
    run = setup("nb", _namespace(tmp_path))
    assert run.profile.name == "smoke" and run.uses_embedded_data and run.output_dir.is_dir()
    assert "embedded synthetic benchmark" in run.data_source
    monkeypatch.delenv("ANOMALY3D_PROFILE")
    assert resolve_profile_name("auto") == "quick"


def test_injected_known_parameters_are_accepted(tmp_path: Path) -> None:
    run = setup("nb", _namespace(tmp_path, injected='profile = "smoke"\nseed = 3\n', profile="smoke", seed=3))
    assert (run.profile.name, run.seed) == ("smoke", 3)


def test_injected_unknown_parameter_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(NotebookParameterError, match=r"unknown parameter\(s\) 'epochs'.*'profile'.*'output_dir'"):
        setup("nb", _namespace(tmp_path, injected="epochs = 3\n", epochs=3))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"profile": "fast"}, "valid profiles are 'auto', 'smoke', 'quick', 'paper'"),
        ({"dataset": "shapenet"}, "valid datasets are"),
        ({"seed": -2}, "seed must be a non-negative integer"),
        ({"seed": True}, "seed must be a non-negative integer"),
        ({"data_root": "/no/such/folder"}, "is not a folder"),
        ({"device": "tpu"}, "invalid device"),
    ],
)
def test_invalid_values(tmp_path: Path, override: dict, message: str) -> None:
    with pytest.raises(NotebookParameterError, match=message):
        setup("nb", _namespace(tmp_path, **override))


def test_missing_required_parameter(tmp_path: Path) -> None:
    ns = _namespace(tmp_path)
    del ns["output_dir"]
    with pytest.raises(NotebookParameterError, match="must assign"):
        setup("nb", ns)


def test_finish_writes_result_with_provenance(tmp_path: Path) -> None:
    import json

    import pandas as pd

    run = setup("nb", _namespace(tmp_path, profile="smoke"))
    run.write_table("t", pd.DataFrame({"category": ["a"], "auroc": [0.91234]}))
    result = json.loads(run.finish(note="x").read_text())
    assert result["tables"] == ["t"] and result["summary"] == {"note": "x"}
    assert result["provenance"]["profile"] == "smoke"
    md = (run.output_dir / "t.md").read_text()
    assert "| a | 0.912 |" in md and "profile: smoke" in md
    assert (run.output_dir / "t.csv").read_text().splitlines()[1] == "a,0.91234"
