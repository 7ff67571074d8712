"""Share 1 of the pages whose marked blocks run (``tests/docs/page_runs.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.page_runs import check_page_runs, share
from tests.warm import Server


@pytest.mark.slow
@pytest.mark.parametrize("page", share(1))
def test_page_commands_run(page: str, tmp_path: Path, warm: Server) -> None:
    """Every block marked `docs-test: run` on the page runs, in order, in one fresh folder."""
    check_page_runs(page, tmp_path, warm)
