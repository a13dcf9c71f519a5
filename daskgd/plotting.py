"""The loss curve of a fit as an image: SVG drawn here, PNG or PDF through matplotlib.

SVG needs nothing beyond the standard library, so ``daskgd fit --plot loss.svg``
works on a plain install; raster formats need the ``plot`` extra.
"""

from __future__ import annotations

import importlib.util
from html import escape
from pathlib import Path

import numpy as np

#: Suffixes matplotlib writes (the ``plot`` extra); ``.svg`` is drawn without it.
MATPLOTLIB_SUFFIXES = (".png", ".pdf", ".jpg", ".jpeg")

WIDTH, HEIGHT = 600, 400
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 80, 20, 40, 50


def check_plot_path(path: str | Path) -> None:
    """Refuse, before any work, a plot file that cannot be written.

    Parameters
    ----------
    path : str or Path
        Where the plot will go.

    Raises
    ------
    ValueError
        For an unknown suffix, or a raster suffix without matplotlib installed.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".svg":
        return
    if suffix not in MATPLOTLIB_SUFFIXES:
        raise ValueError(
            f"--plot {path}: write .svg, or {', '.join(MATPLOTLIB_SUFFIXES)} (with matplotlib)."
        )
    if importlib.util.find_spec("matplotlib") is None:
        raise ValueError(
            f"--plot {path} needs matplotlib: pip install 'daskgd[plot]', or write "
            f"{Path(path).with_suffix('.svg').name}, which needs nothing more."
        )


def curve_to_plot(curve: np.ndarray) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """What to draw of a loss curve: the gap to its final value on a log scale if positive.

    Parameters
    ----------
    curve : ndarray of shape (n_iterations,)
        Objective per iteration.

    Returns
    -------
    x, y : ndarray
        Iterations and values to draw.
    label : str
        The y axis's label.
    log_scale : bool
        Whether ``y`` is drawn on a log scale.
    """
    values = np.asarray(curve, dtype=float)
    values = values[np.isfinite(values)]  # a diverged step's inf or NaN is not drawn
    if not len(values):
        raise ValueError("the loss curve has no finite value to plot.")
    gap = values - values.min()
    if len(values) > 1 and np.all(gap[:-1] > 0):
        return np.arange(1, len(values)), gap[:-1], "objective - final objective", True
    return np.arange(1, len(values) + 1), values, "objective", False


def loss_curve_svg(curve: np.ndarray, title: str) -> str:
    """A loss curve as a self-contained SVG document.

    Parameters
    ----------
    curve : ndarray of shape (n_iterations,)
        Objective per iteration.
    title : str
        Title above the plot.

    Returns
    -------
    svg : str
    """
    x, y, label, log_scale = curve_to_plot(curve)
    shown = np.log10(y) if log_scale else y
    low, high = float(shown.min()), float(shown.max())
    if log_scale:
        low, high = np.floor(low), max(np.ceil(high), np.floor(low) + 1)
    elif high == low:
        low, high = low - 0.5, high + 0.5
    x_low, x_high = float(x[0]), float(max(x[-1], x[0] + 1))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def px(value: float) -> float:
        return MARGIN_LEFT + (value - x_low) / (x_high - x_low) * plot_width

    def py(value: float) -> float:
        return MARGIN_TOP + (high - value) / (high - low) * plot_height

    points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x, shown, strict=True))
    if log_scale:
        step = max(1, int(np.ceil((high - low) / 8)))
        y_ticks = [(v, f"1e{int(v)}") for v in np.arange(low, high + 0.5, step)]
    else:
        y_ticks = [(v, f"{v:.4g}") for v in np.linspace(low, high, 5)]
    x_ticks = np.unique(np.linspace(x_low, x_high, min(6, int(x_high - x_low) + 1)).round())
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_width}" height="{plot_height}" '
        'fill="none" stroke="black"/>',
    ]
    for value, text in y_ticks:
        parts.append(
            f'<line x1="{MARGIN_LEFT - 4}" x2="{MARGIN_LEFT}" y1="{py(value):.1f}" '
            f'y2="{py(value):.1f}" stroke="black"/><text x="{MARGIN_LEFT - 6}" '
            f'y="{py(value) + 4:.1f}" text-anchor="end">{escape(text)}</text>'
        )
    bottom = MARGIN_TOP + plot_height
    for value in x_ticks:
        parts.append(
            f'<line x1="{px(value):.1f}" x2="{px(value):.1f}" y1="{bottom}" y2="{bottom + 4}" '
            f'stroke="black"/><text x="{px(value):.1f}" y="{bottom + 18}" '
            f'text-anchor="middle">{int(value)}</text>'
        )
    parts += [
        f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="2"/>',
        *(
            f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" fill="#1f77b4"/>'
            for a, b in zip(x, shown, strict=True)
        ),
        f'<text x="{MARGIN_LEFT + plot_width / 2}" y="{HEIGHT - 12}" '
        'text-anchor="middle">iteration</text>',
        f'<text x="18" y="{MARGIN_TOP + plot_height / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {MARGIN_TOP + plot_height / 2})">{escape(label)}</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def write_loss_plot(curve: np.ndarray, path: str | Path, title: str) -> None:
    """Write a loss curve to ``path``: SVG by hand, other formats with matplotlib.

    Parameters
    ----------
    curve : ndarray of shape (n_iterations,)
        Objective per iteration.
    path : str or Path
        ``.svg``, or a format of :data:`MATPLOTLIB_SUFFIXES`.
    title : str
        Title above the plot.
    """
    check_plot_path(path)
    if Path(path).suffix.lower() == ".svg":
        Path(path).write_text(loss_curve_svg(curve, title), encoding="utf-8")
        return
    # A Figure of its own with the Agg canvas: the process's pyplot backend is left alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x, y, label, log_scale = curve_to_plot(curve)
    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    (axes.semilogy if log_scale else axes.plot)(x, y, marker="o")
    axes.set_ylabel(label)
    axes.set_xlabel("iteration")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
