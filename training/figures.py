"""Matplotlib for the training reports: headless, and imported only when a figure is drawn."""

from __future__ import annotations

import os
from pathlib import Path


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend, so reports render on machines without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure, path: str | os.PathLike, dpi: int) -> Path:
    """Lay out, write (making the folder) and close the figure: a run draws many, and open ones pile up."""
    figure.tight_layout()
    path = Path(path)
    path = path if path.suffix else path.with_suffix(".png")  # what savefig writes for a bare name
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    pyplot().close(figure)
    return path
