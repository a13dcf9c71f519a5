"""Sphinx helpers of daskgd's documentation, run at build time, offline.

- :func:`pass_graph` builds the task graph of one pass with daskgd's own engine
  (a :class:`~daskgd.engine.frame.ChunkedFrame` of 4 row chunks, the label
  encoding that ``LogisticRegression`` derives, and one Newton pass), without
  computing anything and without a cluster, and returns its keys and
  dependencies; :func:`graph_svg` draws them in layers (no graphviz).
- The ``daskgd-cli-help`` directive prints ``daskgd --help`` and the help of
  every subcommand, from the parser itself, and ``daskgd-cli-models`` the table
  of ``--model`` names, from :mod:`daskgd.registry`, so the page cannot drift
  from the code.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

#: Where the generated picture goes (ignored by git; made again by every build).
GENERATED = Path(__file__).resolve().parent.parent / "_generated"

_TOKEN = re.compile(r"-[0-9a-f]{32}$")


@dataclass(frozen=True)
class Node:
    """One task of the pass: its label (the key without its token), kind and layer."""

    key: Any
    label: str
    kind: str
    chunk: float
    layer: int


def _name(key: Any) -> str:
    return str(key[0] if isinstance(key, tuple) else key)


def _label(key: Any) -> str:
    name = _TOKEN.sub("", _name(key))
    if not isinstance(key, tuple):
        return name
    rest = key[1:]
    if name in ("X", "y"):
        return f"{name} chunk {rest[0]}"
    if len(rest) == 1:
        return f"{name} {rest[0]}"
    return f"{name} {tuple(rest)}"


def _kind(key: Any) -> str:
    name = _TOKEN.sub("", _name(key))
    if name in ("X", "y"):
        return "input"
    if name == "daskgd-coef":
        return "broadcast"
    if name == "daskgd-reduce":
        return "combine"
    if name in ("daskgd-grad", "daskgd-loss-grad-hess", "daskgd-gram"):
        return "chunk"
    return "derived"


def pass_graph(n_chunks: int = 4, split_every: int = 2) -> tuple[list[Node], list[tuple[Any, Any]]]:
    """The tasks and edges of one Newton pass of ``LogisticRegression``, from the engine.

    The frame streams its chunks (``cache=False``, no client): the graph that
    :meth:`ChunkedFrame.graph` returns is what ``dask.compute`` would run.

    Parameters
    ----------
    n_chunks : int, default=4
        Row chunks of X and y (100 rows each).
    split_every : int, default=2
        Fan-in of the combine tree (the estimators' default is 8; 2 shows a tree
        of two levels on 4 chunks).

    Returns
    -------
    nodes : list of Node
        Sorted by layer, then chunk, then kind.
    edges : list of (key, key)
        ``(dependency, dependent)``.
    """
    import dask.array as da
    import numpy as np

    from daskgd.engine.blocks import encode_labels
    from daskgd.engine.frame import ChunkedFrame
    from daskgd.engine.reductions import ObjectiveReduction
    from daskgd.losses import BinaryLogLoss
    from daskgd.objective import LinearObjective
    from daskgd.penalties import L2

    rng = np.random.default_rng(0)
    rows = 100 * n_chunks
    X = da.from_array(rng.standard_normal((rows, 3)), chunks=(100, 3), name="X")
    y = da.from_array((rng.random(rows) < 0.5).astype(float), chunks=100, name="y")
    frame = ChunkedFrame(
        {"X": X, "y": y, "sample_weight": None}, cache=False, split_every=split_every
    )
    # As LogisticRegression does: the labels become class indices next to their chunk.
    frame.derive("y", encode_labels, ["y"], broadcast=np.array([0.0, 1.0]))
    objective = LinearObjective(
        loss=BinaryLogLoss(), penalty=L2(1.0), n_features=3, n_outputs=1, fit_intercept=True
    )
    reduction = ObjectiveReduction(objective, "loss_grad_hess")
    graph = frame.graph(reduction, np.zeros(objective.n_coef)).__dask_graph__()
    dependencies = {key: set(deps) for key, deps in graph.get_all_dependencies().items()}

    dependents: dict[Any, set[Any]] = {key: set() for key in dependencies}
    for key, deps in dependencies.items():
        for dependency in deps:
            dependents[dependency].add(key)
    heights: dict[Any, int] = {}

    def height(key: Any) -> int:
        """Steps from ``key`` to the pass's result: tasks sit just above what reads them."""
        if key not in heights:
            heights[key] = 1 + max((height(d) for d in dependents[key]), default=-1)
        return heights[key]

    top = max(height(key) for key in dependencies)
    kinds = ["input", "derived", "broadcast", "chunk", "combine"]
    nodes = []
    for key in dependencies:
        kind = _kind(key)
        if kind == "broadcast":
            chunk = (n_chunks - 1) / 2  # drawn in the middle of its row
        elif kind == "combine":
            chunk = key[2]
        else:
            chunk = key[1]
        nodes.append(Node(key, _label(key), kind, chunk, top - height(key)))
    nodes.sort(key=lambda n: (n.layer, n.chunk, kinds.index(n.kind), n.label))
    edges = sorted(
        ((d, key) for key, deps in dependencies.items() for d in deps),
        key=lambda edge: (_label(edge[1]), _label(edge[0])),
    )
    return nodes, edges


COLOURS = {
    "input": ("#dbe9f6", "#3b6ea5"),
    "broadcast": ("#fde8c8", "#b7791f"),
    "derived": ("#e3f1e0", "#3c8d2f"),
    "chunk": ("#f6dede", "#b03a3a"),
    "combine": ("#ece3f5", "#6b46a1"),
}
LEGEND = {
    "input": "a chunk of the data (read from its source)",
    "broadcast": "the coefficients, sent to every chunk task",
    "derived": "a derived column (labels as class indices)",
    "chunk": "chunk step: loss, gradient, Hessian of one chunk",
    "combine": "combine step, in chunk order",
}


def graph_svg(nodes: list[Node], edges: list[tuple[Any, Any]]) -> str:
    """An SVG drawing of the graph: one row per layer, dependencies above dependents."""
    box_h, gap_x, gap_y, margin = 30, 14, 54, 20
    by_layer: dict[int, list[Node]] = {}
    for node in nodes:
        by_layer.setdefault(node.layer, []).append(node)
    box_w = {node.key: 7 * len(node.label) + 20 for node in nodes}

    def row_width(row: list[Node]) -> int:
        return sum(box_w[node.key] for node in row) + (len(row) - 1) * gap_x

    legend_w = 24 + 7 * max(len(text) for text in LEGEND.values())
    width = 2 * margin + max(legend_w, *(row_width(row) for row in by_layer.values()))
    legend_h = 22 * len(LEGEND) + 10
    height = 2 * margin + len(by_layer) * box_h + (len(by_layer) - 1) * gap_y + legend_h
    where: dict[Any, tuple[float, float]] = {}
    for index, row in sorted(by_layer.items()):
        left = (width - row_width(row)) / 2
        top = margin + index * (box_h + gap_y)
        for node in row:
            where[node.key] = (left, top)
            left += box_w[node.key] + gap_x
    # Rows above the widest one sit over what reads them (pushed apart where they would touch).
    widest = max(by_layer, key=lambda index: row_width(by_layer[index]))
    readers: dict[Any, list[Any]] = {}
    for source, target in edges:
        readers.setdefault(source, []).append(target)
    for index in range(widest - 1, -1, -1):
        left = float(margin)
        for node in by_layer[index]:
            centres = [where[r][0] + box_w[r] / 2 for r in readers.get(node.key, [])]
            x = sum(centres) / len(centres) - box_w[node.key] / 2 if centres else left
            where[node.key] = (max(x, left), where[node.key][1])
            left = where[node.key][0] + box_w[node.key] + gap_x
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' "
        "fill='#555'/></marker></defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for source, target in edges:
        (x0, y0), (x1, y1) = where[source], where[target]
        w0, w1 = box_w[source], box_w[target]
        out.append(
            f'<line x1="{x0 + w0 / 2:.1f}" y1="{y0 + box_h:.1f}" x2="{x1 + w1 / 2:.1f}" '
            f'y2="{y1:.1f}" stroke="#888" stroke-width="1" marker-end="url(#arrow)"/>'
        )
    for node in nodes:
        x, y = where[node.key]
        fill, stroke = COLOURS[node.kind]
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w[node.key]}" height="{box_h}" rx="5" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        )
        out.append(
            f'<text x="{x + box_w[node.key] / 2:.1f}" y="{y + box_h / 2 + 4:.1f}" '
            f'text-anchor="middle">{escape(node.label)}</text>'
        )
    top = height - margin - legend_h + 10
    for index, (kind, text) in enumerate(LEGEND.items()):
        fill, stroke = COLOURS[kind]
        y = top + 22 * index
        out.append(
            f'<rect x="{margin}" y="{y}" width="16" height="14" rx="3" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.5"/>'
        )
        out.append(f'<text x="{margin + 24}" y="{y + 11}">{escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_pass_graph(app: Any = None) -> Path:
    """Write ``_generated/pass-graph.svg`` (only when its content changed)."""
    GENERATED.mkdir(exist_ok=True)
    path = GENERATED / "pass-graph.svg"
    svg = graph_svg(*pass_graph())
    if not path.exists() or path.read_text(encoding="utf-8") != svg:
        path.write_text(svg, encoding="utf-8")
    return path


def cli_help_texts(width: int = 88) -> list[tuple[str, str]]:
    """``("daskgd", help)`` and ``("daskgd <command>", help)`` for every subcommand."""
    from daskgd.cli import _parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)  # argparse wraps to the terminal's width
    try:
        parser = _parser()
        texts = [("daskgd", parser.format_help())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, command in action.choices.items():
                    texts.append((f"daskgd {name}", command.format_help()))
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return texts


def setup(app: Any) -> dict[str, Any]:
    """Register the picture's generation and the command line directives."""
    from docutils import nodes
    from sphinx.util.docutils import SphinxDirective

    class CliHelp(SphinxDirective):
        """The help of ``daskgd`` and of each of its subcommands, as literal blocks."""

        def run(self) -> list[Any]:
            result: list[Any] = []
            for title, text in cli_help_texts():
                paragraph = nodes.paragraph()
                paragraph += nodes.literal(text=f"{title} --help")
                result.append(paragraph)
                result.append(nodes.literal_block(text, text, language="text"))
            return result

    class CliModels(SphinxDirective):
        """A table of the ``--model`` names and the estimators they fit, from the registry."""

        def run(self) -> list[Any]:
            from daskgd.registry import cli_models, estimator_entry

            table = nodes.table()
            group = nodes.tgroup(cols=3)
            table += group
            for width in (1, 2, 1):
                group += nodes.colspec(colwidth=width)
            head, body = nodes.thead(), nodes.tbody()
            group += head
            group += body
            rows = [("--model", "estimator", "kind")]
            rows += [
                (cli, f"daskgd.{name}", estimator_entry(name).kind)
                for cli, name in cli_models().items()
            ]
            for index, cells in enumerate(rows):
                row = nodes.row()
                for cell in cells:
                    entry = nodes.entry()
                    paragraph = nodes.paragraph()
                    paragraph += nodes.literal(text=cell) if index else nodes.Text(cell)
                    entry += paragraph
                    row += entry
                (head if index == 0 else body).append(row)
            return [table]

    app.connect("builder-inited", write_pass_graph)
    app.add_directive("daskgd-cli-help", CliHelp)
    app.add_directive("daskgd-cli-models", CliModels)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
