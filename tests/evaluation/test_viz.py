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
