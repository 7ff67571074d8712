"""The paper's published cost figures (Tables 2, 3, 4; supplementary Table 1), as reference data.

These are the numbers we check our counts against, transcribed from the paper,
not results of ours.  ``bias`` says which parameter convention the row matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Bias = Literal["with", "without"]


@dataclass(frozen=True)
class PaperRow:
    """One published row: where it is, which spec reproduces it, and the published MACs/params."""

    table: str
    label: str
    backbone: str
    preset: str | None  # None: no network fits the row
    blocks: int | None
    gmacs: float
    mparams: float
    bias: Bias = "with"
    note: str = ""


PAPER_ROWS: tuple[PaperRow, ...] = (
    PaperRow("Table 2", "Standard", "srresnet", "standard", None, 42.76, 1.59),
    PaperRow("Table 2", "MS-Conv", "srresnet", "ms", None, 16.70, 0.82),
    PaperRow("Table 2", "MS2-Conv w/o LH", "srresnet", "ms2-no-lh", None, 18.74, 1.21),
    PaperRow("Table 2", "MS2-Conv w/o HL", "srresnet", "ms2-no-hl", None, 18.74, 1.21),
    PaperRow("Table 2", "MS2-Conv", "srresnet", "ms2", None, 20.78, 1.59),
    PaperRow(
        "Table 3",
        "1 branch",
        "srresnet",
        None,
        None,
        25.85,
        0.56,
        note="fits no single-width network (equals CARN's 25.86 G: likely a copying error)",
    ),
    PaperRow(
        "Table 3",
        "2 branches",
        "srresnet",
        "ms3",
        None,
        17.16,
        0.51,
        "without",
        note="Table 2/4 give 0.52 M for the same network",
    ),
    PaperRow("Table 3", "3 branches", "srresnet", "ms3-3branch", None, 18.19, 0.71),
    PaperRow("Table 3", "4 branches", "srresnet", "ms3-4branch", None, 18.48, 1.00),
    PaperRow("Table 4", "SRResNet", "srresnet", "standard", None, 42.76, 1.59),
    PaperRow("Table 4", "SRResNet MS3-Conv", "srresnet", "ms3", None, 17.16, 0.52),
    PaperRow("Table 4", "SRResNet MS3-Conv+", "srresnet", "ms3", 46, 28.98, 1.19, "without"),
    PaperRow("Table 4", "CARN", "carn", "standard", None, 35.51, 1.15),
    PaperRow("Table 4", "CARN MS3-Conv", "carn", "ms3", None, 15.06, 0.45),
    PaperRow("Table 4", "CARN MS3-Conv+", "carn", "ms3", 8, 23.32, 1.03, "without"),
    PaperRow("Supp. Table 1", "CARN-MS3-Conv", "carn", "ms3", None, 15.06, 0.450),
)

MACS_TOLERANCE = 0.001  # relative
PARAMS_TOLERANCE = 0.01  # relative
