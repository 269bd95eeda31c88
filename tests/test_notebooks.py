"""The notebook pairs stay in sync, and bad papermill parameters fail with a clear message.

Executing every notebook on the smoke profile is nbval's job (``--nbval-lax`` collects ``notebooks/*.ipynb``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from anomaly3d.reports.notebooks import list_notebooks, pair_problems, run_notebook

NOTEBOOKS = list_notebooks()


def test_there_are_notebooks() -> None:
    assert any(p.stem == "00_tour" for p in NOTEBOOKS)


@pytest.mark.parametrize("py_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_pair_in_sync_and_parameters_cell_valid(py_path: Path) -> None:
    problems = pair_problems(py_path)
    assert not problems, "\n".join(problems)


def test_editing_only_the_py_is_caught_with_the_fix(tmp_path: Path) -> None:
    src = NOTEBOOKS[0]
    py = tmp_path / src.name
    shutil.copy(src, py)
    shutil.copy(src.with_suffix(".ipynb"), py.with_suffix(".ipynb"))
    assert pair_problems(py) == []
    py.write_text(py.read_text() + "\n# %%\nprint('an edit that was never synced')\n")
    problems = pair_problems(py)
    assert len(problems) == 1
    assert "drifted" in problems[0] and f"sync {py.stem}" in problems[0]
    py.with_suffix(".ipynb").unlink()
    assert "missing" in pair_problems(py)[0]


def test_parameters_cell_must_come_first_and_derive_nothing(tmp_path: Path) -> None:
    py = tmp_path / "99_bad.py"
    py.write_text('# %%\nimport os\n\n# %% tags=["parameters"]\nprofile = "auto"\n')
    import jupytext

    jupytext.write(jupytext.read(py), py.with_suffix(".ipynb"))
    problems = pair_problems(py)
    assert any("first code cell must be tagged 'parameters'" in p for p in problems)
    py.write_text('# %% tags=["parameters"]\nprofile = "auto"\nseed = int("3")\n')
    jupytext.write(jupytext.read(py), py.with_suffix(".ipynb"))
    assert any("plain `name = value`" in p for p in pair_problems(py))


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"profle": "smoke"}, ["unknown parameter(s) 'profle'", "'profile'", "'seed'", "'output_dir'"]),
        ({"profile": "fast"}, ["unknown profile 'fast'", "'smoke'", "'quick'", "'paper'"]),
        ({"dataset": "mvtec"}, ["unknown dataset 'mvtec'", "'mvtec3d-ad'"]),
    ],
)
def test_bad_papermill_parameters_fail_clearly(tmp_path: Path, parameters: dict, expected: list[str]) -> None:
    import papermill as pm

    tour = next(p for p in NOTEBOOKS if p.stem == "00_tour")
    out = tmp_path / "tour.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as err:
        run_notebook(tour, out, {**parameters, "output_dir": str(tmp_path / "out")})
    message = str(err.value)
    for fragment in expected:
        assert fragment in message, message
    assert not out.exists() and out.with_suffix(".failed.ipynb").exists()
