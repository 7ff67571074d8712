"""The sampling seam: stable dotted names, define-by-run dimensions, and enqueueable named points."""

from __future__ import annotations

import optuna
import pytest

from nas.search.suggest import params_for, spec_from_trial
from nas.study.naming import named_points
from space import preset
from studies import STUDIES


def test_fixed_trial_builds_ms3():
    space = STUDIES["ms3"].space
    params = {
        "unit.scales": 2,
        "unit.paths": "both",
        "unit.low_share": 0.5,
        "unit.shared": True,
        "unit.cross_kernel": 1,
    }
    spec = spec_from_trial(optuna.trial.FixedTrial(params), space)
    assert spec == preset("ms3")


def test_single_valued_dimensions_are_not_parameters():
    """ms3 has one split and one resampling op each way: those are fixed, not suggested."""
    space = STUDIES["ms3"].space
    params = params_for(space, {"scales": 2, "paths": "both", "shared": False, "cross_kernel": 3, "low_share": 0.5})
    assert params == {"unit.scales": 2, "unit.paths": "both", "unit.shared": False, "unit.cross_kernel": 3}
    assert params_for(space, {"scales": 1}) == {"unit.scales": 1}


@pytest.mark.parametrize("name", list(STUDIES))
def test_every_named_point_is_reachable_through_its_params(name):
    definition = STUDIES[name]
    names = named_points(definition)
    found = set()
    for choice, spec in definition.space.uniform_points():
        again = spec_from_trial(optuna.trial.FixedTrial(params_for(definition.space, choice)), definition.space)
        assert again.spec_hash == spec.spec_hash
        if spec.spec_hash in names:
            found.add(names[spec.spec_hash])
    assert found, f"study {name} contains no named variant"


def test_ms3_space_holds_the_seven_paper_variants():
    hashes = {s.spec_hash for _, s in STUDIES["ms3"].space.uniform_points()}
    names = named_points(STUDIES["ms3"])
    assert {names[h] for h in hashes if h in names} == {
        "standard",
        "ms",
        "ms2-no-lh",
        "ms2-no-hl",
        "ms2",
        "ms3",
        "ms3-l",
    }


def test_layerwise_names_parameters_per_layer():
    space = STUDIES["layerwise"].space
    study = optuna.create_study(directions=["maximize"], sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    spec = spec_from_trial(trial, space)
    layers = space.converted_layers()
    assert f"layer.{layers - 1}.paths" in trial.params and "unit.scales" not in trial.params
    assert len(spec.units) in (1, layers)
