from __future__ import annotations

import dataclasses

import anomaly3d
import pytest
from anomaly3d.profiles import PROFILE_NAMES, PROFILES, UnknownProfileError, get_profile


def test_three_profiles_ordered_by_size() -> None:
    assert PROFILE_NAMES == ("smoke", "quick", "paper")
    smoke, quick, paper = (PROFILES[n] for n in PROFILE_NAMES)
    for field in ("n_points", "image_size", "max_epochs", "n_test_good"):
        assert getattr(smoke, field) <= getattr(quick, field) <= getattr(paper, field), field
    assert paper.categories is None  # the paper profile uses every category


def test_unknown_profile_lists_valid_names() -> None:
    with pytest.raises(UnknownProfileError) as err:
        get_profile("fast")
    for name in PROFILE_NAMES:
        assert repr(name) in str(err.value)
    assert isinstance(err.value, ValueError)


def test_profiles_are_immutable() -> None:
    smoke = get_profile("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        smoke.n_points = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        PROFILES["new"] = smoke  # type: ignore[index]
    assert get_profile(smoke) is smoke
    assert anomaly3d.get_profile("quick").as_dict()["name"] == "quick"


def test_method_settings_are_copies() -> None:
    p = get_profile("quick")
    settings = p.method("no-such-method")
    assert settings == {}
    settings["x"] = 1
    assert p.method("no-such-method") == {}
