"""How architectures and studies are named: the paper variant's name or the spec hash; stored names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import optuna

from nas.study import keys
from space import PRESETS, SpecError, load_spec, preset
from studies import STUDIES, StudyDef
from studies.files import study_from_data


def arch_name(preset_name: str | None, spec_hash: str) -> str:
    """An architecture's name: the paper variant it is, else its spec hash."""
    return preset_name or spec_hash


def trial_arch_name(number: int, attrs: Mapping[str, Any]) -> str:
    """The name of the architecture a trial holds (``trial-N`` before its spec is known)."""
    return arch_name(attrs.get(keys.PRESET), str(attrs.get(keys.SPEC_HASH, f"trial-{number}")))


def join_names(items: Iterable[str]) -> str:
    return ", ".join(items) or "none"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 architecture', '2 architectures'."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def named_points(definition: StudyDef) -> dict[str, str]:
    """spec_hash -> name for the named paper variants at the study's backbone and size, and the study's own."""
    sp = definition.space
    out = {}
    for name in PRESETS:
        try:
            out[preset(name, sp.backbone, sp.upscale, sp.depth, sp.width).spec_hash] = name
        except SpecError:
            continue
    for name, spec in definition.named.items():  # a researcher's own, labelled like a preset
        out[load_spec(spec).spec_hash] = name
    return out


def expected_variants(definition: StudyDef) -> list[str]:
    """The named variants that are points of a study's space (the ones ``nas.search`` queues first)."""
    names = named_points(definition)
    found = (names.get(spec.spec_hash) for _, spec in definition.space.uniform_points())
    return list(dict.fromkeys(n for n in found if n is not None))


def stored_name(definition: StudyDef, sampler: str | None = None) -> str:
    """The study's name in the storage: NAME, or NAME-SAMPLER when the sampler is overridden."""
    return definition.name if sampler in (None, definition.sampler) else f"{definition.name}-{sampler}"


def definition_of(study: optuna.Study) -> StudyDef | None:
    """The definition a stored study was run from: stored with it (a study file's too), or for a study made
    before definitions were stored, the built-in of its name (None when this version does not know it)."""
    stored = study.user_attrs.get(keys.DEFINITION_DATA)
    if isinstance(stored, dict):
        return study_from_data(stored, f"the definition stored with study {study.study_name!r}")
    name = study.user_attrs.get(keys.DEFINITION, study.study_name)
    return STUDIES.get(name)
