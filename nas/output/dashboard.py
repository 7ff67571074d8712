"""optuna-dashboard with the study's figures in the report's order and each architecture once in Best Trials.

optuna-dashboard 0.21 lists a study's saved figures in the order of a Python set of their ids, so
the order changes from one server start to the next and report, analysis and fidelity figures come
interleaved.  ``serve`` starts the same server with that one listing sorted: report figures first
in the page's order, then each analysis (per budget) in its page's order, then any other figure.

A repeat (a trial the sampler drew for an architecture already evaluated) is COMPLETE with its
original's values, so optuna-dashboard's Best Trials listed both; ``serve`` computes that list
without repeats, as the report's front does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import optuna
import optuna_dashboard
from optuna.trial import FrozenTrial
from optuna_dashboard import _app, _custom_plot_data

from nas.output import analysis_page, report
from nas.study import keys

ANALYSIS_ID = re.compile(r"^(?P<base>analyze-[a-z-]+?)(?P<suffix>-x[0-9.e+-]+)?$")


def figure_rank(graph_id: str) -> tuple[int, str, int, str]:
    """Sort key: (group, budget suffix, place on its page, id)."""
    if graph_id in report.FIGURE_ORDER:
        return (0, "", report.FIGURE_ORDER.index(graph_id), graph_id)
    match = ANALYSIS_ID.match(graph_id)
    if match and match["base"] in analysis_page.FIGURE_ORDER:
        return (1, match["suffix"] or "", analysis_page.FIGURE_ORDER.index(match["base"]), graph_id)
    return (2, "", 0, graph_id)


def in_page_order(graph_ids: Iterable[str]) -> list[str]:
    """The ids as the pages order their figures."""
    return sorted(graph_ids, key=figure_rank)


def ordered(listing: Callable[[dict[str, Any]], list[str]]) -> Callable[[dict[str, Any]], list[str]]:
    """optuna-dashboard's figure-id listing, sorted by ``in_page_order``."""
    return lambda system_attrs: in_page_order(listing(system_attrs))


def without_repeats(front: Callable[..., list[FrozenTrial]]) -> Callable[..., list[FrozenTrial]]:
    """optuna-dashboard's Pareto-front function over the trials that are not repeats of an earlier one."""

    def first_evaluations(trials: list[FrozenTrial], directions: Any) -> list[FrozenTrial]:
        return front(trials=[t for t in trials if keys.DUPLICATE_OF not in t.user_attrs], directions=directions)

    return first_evaluations


def serve(storage: optuna.storages.BaseStorage, artifacts: Path, host: str, port: int) -> None:
    """Run optuna-dashboard on the storage (blocks until interrupted), figures in page order."""
    if not hasattr(_custom_plot_data, "list_graph_object_ids"):  # a change in optuna-dashboard's internals
        raise RuntimeError(f"optuna-dashboard {optuna_dashboard.__version__}: no figure listing to order")
    if not hasattr(_app, "get_pareto_front_trials"):
        raise RuntimeError(f"optuna-dashboard {optuna_dashboard.__version__}: no Best Trials function to filter")
    _custom_plot_data.list_graph_object_ids = ordered(_custom_plot_data.list_graph_object_ids)
    _app.get_pareto_front_trials = without_repeats(_app.get_pareto_front_trials)
    store = optuna.artifacts.FileSystemArtifactStore(str(artifacts)) if artifacts.is_dir() else None
    optuna_dashboard.run_server(storage, host=host, port=port, artifact_store=store)
