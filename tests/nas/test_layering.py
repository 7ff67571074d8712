"""The layering the import contracts state, checked as a user meets it: what an import loads, and where
Optuna's private API and user-attribute names are spelled."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from nas.study import keys
from nas.study.companion import open_companion
from nas.study.optuna_adapter import storage_of
from nas.study.storage import storage_for

ROOT = Path(__file__).resolve().parents[2]
NAS = ROOT / "nas"
STUDY_READERS = [
    "nas.study",
    "nas.study.records",
    "nas.study.storage",
    "nas.study.companion",
    "nas.analysis.fronts",
    "nas.analysis.noise",
    "nas.analysis.subspaces",
    "nas.analysis.fidelity",
    "nas.analysis.selection",
    "nas.output.report",
]


@pytest.mark.slow
@pytest.mark.parametrize("module", STUDY_READERS)
def test_reading_a_study_does_not_load_torch(module: str):
    torchy = ("torch", "backbones", "nas.training", "nas.measure")
    code = f"import sys, {module}; print(sorted(m for m in {torchy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def library_sources() -> list[Path]:
    """Every module of nas/ but the adapter (which is allowed Optuna's private API)."""
    return [p for p in NAS.rglob("*.py") if p.name != "optuna_adapter.py"]


def test_optuna_private_api_is_reached_from_the_adapter_only():
    """Tests too: a public call serves them (``storage_for(url)``, our ``queued`` attribute), else the adapter."""
    private = re.compile(r"\._storage\b|\._trial_id\b|fixed_params|from optuna(\.\w+)*\._")
    tests = [p for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name]  # this one spells them
    offenders = [str(p.relative_to(ROOT)) for p in [*library_sources(), *tests] if private.search(p.read_text())]
    assert offenders == []


def test_user_attributes_are_never_spelled_as_literals():
    literal = re.compile(r"""(user_attrs\[|user_attrs\.get\(|set_user_attr\(|\.attr\()\s*f?["']""")
    offenders = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in NAS.rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []


def test_keys_are_distinct():
    names = {k: v for k, v in vars(keys).items() if k.isupper() and isinstance(v, str)}
    shared = {"MACS_KEY": "macs", "PARAMS_KEY": "params", "PSNR_KEY": "psnr", "LATENCY_MS": "latency_ms"}
    assert all(names[k] == v for k, v in shared.items())  # the objectives' names are their attributes
    assert len(set(names.values())) == len(names)


def test_the_adapter_finds_a_studys_storage_in_this_optuna(tmp_path: Path):
    storage = storage_for(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    loaded = optuna.load_study(study_name="s", storage=storage)
    for found in (storage_of(study), storage_of(loaded)):  # Optuna wraps an RDB storage in a cache
        assert isinstance(found, optuna.storages.BaseStorage)
        assert found.get_study_id_from_name("s") == storage.get_study_id_from_name("s")
    companion = open_companion(loaded)  # created beside it, in the same storage
    assert companion.study_name == "s.fidelity" and set(optuna.get_all_study_names(storage)) == {"s", "s.fidelity"}
    assert companion.user_attrs[keys.SOURCE_STUDY] == "s"
