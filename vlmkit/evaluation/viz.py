"""Figures: scenes with boxes and outlines, galleries of predictions, training curves.

Every figure gets a title and, where two kinds of marks share an axis, a legend.
Functions return the matplotlib ``Figure`` so notebooks show it and scripts save it.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon as PolygonPatch
from matplotlib.patches import Rectangle
from PIL import Image

from vlmkit.data.images import load_image

TRUE_COLOUR, PRED_COLOUR = "#00c853", "#ff1744"


def _flat_parts(polygons: Sequence) -> list[np.ndarray]:
    """Accept parts as flat COCO lists or as (x, y) vertex lists."""
    out = []
    for part in polygons:
        arr = np.asarray(part, dtype=float)
        out.append(arr.reshape(-1, 2))
    return out


def draw_box(ax: matplotlib.axes.Axes, box: Sequence[float], colour: str, style: str = "-") -> None:
    x1, y1, x2, y2 = box
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.8, linestyle=style))


def draw_polygons(ax: matplotlib.axes.Axes, polygons: Sequence, colour: str, style: str = "-") -> None:
    for part in _flat_parts(polygons):
        ax.add_patch(PolygonPatch(part, closed=True, fill=False, edgecolor=colour, linewidth=1.5, linestyle=style))


def draw_point(ax: matplotlib.axes.Axes, point: Sequence[float], colour: str) -> None:
    ax.plot([point[0]], [point[1]], marker="o", markersize=9, markerfacecolor="none", markeredgecolor=colour,
            markeredgewidth=2.2, linestyle="none")


def figure_image(fig: plt.Figure) -> Image.Image:
    """``fig`` rendered as an RGB PIL image (for a web page, or any place that wants pixels), then closed."""
    fig.canvas.draw()
    image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy())
    plt.close(fig)
    return image


def show_example(ax: matplotlib.axes.Axes, image, title: str = "", true_box=None, pred_box=None,
                 true_polygons=None, pred_polygons=None) -> None:
    """One image with its ground truth (green, solid) and prediction (red, dashed)."""
    pixels = np.asarray(load_image(image))
    # extent puts pixel (col, row) on [col, col+1) x [row, row+1), the COCO convention of our boxes
    ax.imshow(pixels, interpolation="nearest", extent=(0, pixels.shape[1], pixels.shape[0], 0))
    if true_polygons is not None:
        draw_polygons(ax, true_polygons, TRUE_COLOUR)
    if pred_polygons is not None:
        draw_polygons(ax, pred_polygons, PRED_COLOUR, "--")
    if true_box is not None:
        draw_box(ax, true_box, TRUE_COLOUR)
    if pred_box is not None:
        draw_box(ax, pred_box, PRED_COLOUR, "--")
    ax.set_title("\n".join(textwrap.wrap(title, 28)), fontsize=8)
    ax.axis("off")


def _legend(fig: plt.Figure, truth: str, with_prediction: bool) -> None:
    shape = {"box": "box", "outline": "outline", "both": "box and outline"}[truth]
    handles = [Line2D([], [], color=TRUE_COLOUR, label=f"true {shape}")]
    if with_prediction:
        handles.append(Line2D([], [], color=PRED_COLOUR, linestyle="--", label="prediction"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)


def one_per_scene(rows: Sequence[dict], indices: Sequence[int]) -> list[int]:
    """The ``indices`` of ``rows``, in their order, but for the first of each image id: a
    gallery of distinct scenes, not one scene asked about several objects."""
    seen, kept = set(), []
    for i in indices:
        if rows[i]["image_id"] not in seen:
            seen.add(rows[i]["image_id"])
            kept.append(i)
    return kept


def gallery(rows: Sequence[dict], title: str, predictions: Sequence[dict] | None = None, columns: int = 4,
            truth: str = "both") -> plt.Figure:
    """A grid of unified-schema rows with their first expression; ``predictions`` (optional,
    one dict per row with ``box`` and/or ``polygons`` and an optional ``label``) are overlaid.
    ``truth`` draws the true ``"box"``, ``"outline"`` or ``"both"``: compare like with like,
    an outline prediction with the true outline."""
    if truth not in ("box", "outline", "both"):
        raise ValueError(f"truth is 'box', 'outline' or 'both', not {truth!r}")
    n = len(rows)
    if n == 0:
        raise ValueError("gallery needs at least one row")
    nrows = -(-n // columns)
    fig, axes = plt.subplots(nrows, columns, figsize=(2.4 * columns, 2.7 * nrows + 0.4), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for i, (ax, row) in enumerate(zip(axes.flat, rows)):
        pred = predictions[i] if predictions is not None else {}
        text = row["expressions"][0] if row.get("expressions") else row.get("category", "")
        if pred.get("label"):
            text = f"{text} [{pred['label']}]"
        show_example(ax, row["image"], text, true_box=row["box"] if truth != "outline" else None,
                     true_polygons=row["polygons"] if truth != "box" else None,
                     pred_box=pred.get("box"), pred_polygons=pred.get("polygons"))
    fig.suptitle(title)
    _legend(fig, truth, predictions is not None)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return fig


def plot_history(history: Sequence[dict], title: str, metrics: Sequence[str] = ()) -> plt.Figure:
    """Training loss (and any evaluated ``metrics``) against step, from a trainer's history."""
    fig, axes = plt.subplots(1, 1 + bool(metrics), figsize=(5 * (1 + bool(metrics)), 3.4), squeeze=False)
    train = [h for h in history if "loss" in h]
    axes[0, 0].plot([h["step"] for h in train], [h["loss"] for h in train], label="training loss", color="#1f77b4")
    evals = [h for h in history if "val_loss" in h]
    if evals:
        axes[0, 0].plot([h["step"] for h in evals], [h["val_loss"] for h in evals], "o-", label="validation loss",
                        color="#ff7f0e")
    axes[0, 0].set(xlabel="step", ylabel="loss", yscale="log", title="loss")
    axes[0, 0].legend()
    if metrics:
        for name in metrics:
            points = [h for h in history if name in h]
            axes[0, 1].plot([h["step"] for h in points], [h[name] for h in points], "o-", label=name)
        axes[0, 1].set(xlabel="step", title="evaluation", ylim=(0, 1.02))
        axes[0, 1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def caption_grid(images: Sequence, predicted: Sequence[str], reference: Sequence[str], title: str,
                 columns: int = 4) -> plt.Figure:
    """Images with the model's caption (bold) above the first reference caption."""
    n = len(images)
    nrows = -(-n // columns)
    fig, axes = plt.subplots(nrows, columns, figsize=(2.8 * columns, 3.9 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, image, pred, ref in zip(axes.flat, images, predicted, reference):
        ax.imshow(np.asarray(load_image(image)), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("\n".join(textwrap.wrap(f"model: {pred}", 34)), fontsize=7.5, fontweight="bold")
        ax.set_xlabel("\n".join(textwrap.wrap(f"truth: {ref}", 40)), fontsize=7)  # tight_layout makes room
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def bar_table(values: dict[str, dict[str, float]], title: str, ylabel: str) -> plt.Figure:
    """Grouped bars: ``values[group][series]`` (e.g. Acc@0.5 per expression kind per split)."""
    groups = list(values)
    series = sorted({s for g in values.values() for s in g})
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(groups) * max(1, len(series) / 2)), 3.4))
    for k, name in enumerate(series):
        xs = [i + k * width for i in range(len(groups))]
        ax.bar(xs, [values[g].get(name, 0.0) for g in groups], width, label=name)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(groups))], groups)
    ax.set(ylabel=ylabel, ylim=(0, 1.05), title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def attention_overlay(ax: matplotlib.axes.Axes, image, heat: np.ndarray, title: str = "", true_box=None,
                      pred_box=None) -> None:
    """``heat`` (a ``grid x grid`` map, e.g. :meth:`vlmkit.evaluation.attention.AnswerAttention.mean_map`)
    stretched over ``image`` as a translucent heat map, each cell over the image patch it
    came from, with the true (green) and predicted (red, dashed) boxes."""
    show_example(ax, image, title, true_box=true_box, pred_box=pred_box)
    # the boxes (patches) stay above the heat map (an image) whatever the drawing order
    ax.imshow(heat, cmap="inferno", alpha=0.55, interpolation="nearest", extent=ax.get_images()[0].get_extent(),
              vmin=0, vmax=max(float(heat.max()), 1e-9))
