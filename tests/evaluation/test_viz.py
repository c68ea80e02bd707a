import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402

from vlmkit.data.shapeworld import ShapeWorld  # noqa: E402
from vlmkit.evaluation.viz import gallery  # noqa: E402


def _patches(fig, kind) -> int:
    return sum(isinstance(p, kind) for ax in fig.axes for p in ax.patches)


def test_the_gallery_draws_the_truth_it_is_asked_to_compare_with():
    rows = ShapeWorld().rows("val", 0)[:2]
    outline = [{"polygons": [[(1, 1), (9, 1), (9, 9)]]}] * 2
    fig = gallery(rows, "outlines", predictions=outline, truth="outline")
    assert _patches(fig, Rectangle) == 0 and _patches(fig, Polygon) >= 4  # true and predicted outlines only
    assert "true outline" in [t.get_text() for t in fig.legends[0].get_texts()]
    fig = gallery(rows, "boxes", predictions=[{"box": (1, 1, 9, 9)}] * 2, truth="box")
    assert _patches(fig, Polygon) == 0 and _patches(fig, Rectangle) == 4
    with pytest.raises(ValueError, match="truth is 'box', 'outline' or 'both'"):
        gallery(rows, "?", truth="mask")


def test_a_figure_becomes_the_pixels_a_web_page_shows_with_the_point_drawn():
    import matplotlib.pyplot as plt
    import numpy as np

    from vlmkit.evaluation.viz import draw_point, figure_image

    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.set(xlim=(0, 10), ylim=(0, 10))
    draw_point(ax, (5, 5), "#ff0000")
    image = figure_image(fig)
    assert image.mode == "RGB" and image.size == (100, 50) and not plt.fignum_exists(fig.number)
    pixels = np.asarray(image)
    assert ((pixels[:, :, 0] > 200) & (pixels[:, :, 1] < 80)).any()  # the red ring

