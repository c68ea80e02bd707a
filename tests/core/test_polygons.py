import numpy as np
import pytest
from pycocotools import mask as mask_utils

from vlmkit.core.polygons import (PolygonError, canonical_order, flat_to_points, mask_iou, mask_to_polygons,
                                  polygons_to_mask, rle_to_mask, signed_area, simplify_to_budget)
from vlmkit.data.coco import CocoInstances


def test_flat_polygon_validation_names_the_problem():
    assert flat_to_points([0, 0, 4, 0, 4, 4]) == [(0, 0), (4, 0), (4, 4)]
    with pytest.raises(PolygonError, match="even number"):
        flat_to_points([0, 0, 4, 0, 4])
    with pytest.raises(PolygonError, match="at least 3 vertices"):
        flat_to_points([0, 0, 4, 4])
    with pytest.raises(PolygonError, match="non-finite"):
        flat_to_points([0, 0, 4, float("nan"), 4, 4])


def test_canonical_order_is_clockwise_from_the_vertex_nearest_the_origin():
    ccw = [(10, 10), (10, 20), (20, 20), (20, 10)]  # counter-clockwise on screen
    (part,) = canonical_order([ccw])
    assert part[0] == (10, 10)
    assert signed_area(part) > 0
    assert canonical_order([part]) == [part]  # idempotent
    far, near = [(50, 50), (60, 50), (60, 60)], [(1, 1), (5, 1), (5, 5)]
    assert [p[0] for p in canonical_order([far, near])] == [(1, 1), (50, 50)]


def test_signed_area_of_a_list_and_of_an_array_agree():
    # a list (ShapeWorld outlines) is summed in Python, an array (traced masks) by numpy
    clockwise = [(0.0, 0.0), (4.0, 0.0), (4.0, 3.0), (0.0, 3.0)]  # y down: clockwise on screen
    assert signed_area(clockwise) == signed_area(np.array(clockwise)) == 12.0
    assert signed_area(clockwise[::-1]) == signed_area(np.array(clockwise[::-1])) == -12.0
    circle = [(10 + 7 * np.cos(a), 10 + 7 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 24, endpoint=False)]
    assert signed_area(circle) == pytest.approx(signed_area(np.array(circle)), rel=1e-12)


def test_square_mask_traces_to_its_outline_and_back():
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:15, 8:20] = True
    polygons = mask_to_polygons(mask, max_vertices=8)
    assert len(polygons) == 1
    assert mask_iou(polygons_to_mask(polygons, 20, 30), mask) > 0.95


def test_border_objects_close_and_small_parts_drop():
    mask = np.zeros((20, 20), dtype=bool)
    mask[0:10, 0:10] = True  # touches two borders
    mask[15, 15] = True  # one pixel: below min_area
    polygons = mask_to_polygons(mask, min_area=4)
    assert len(polygons) == 1
    assert mask_iou(polygons_to_mask(polygons, 20, 20), mask[:, :]) > 0.9


def test_two_parts_are_both_kept():
    mask = np.zeros((20, 40), dtype=bool)
    mask[2:10, 2:10] = True
    mask[2:10, 25:35] = True
    assert len(mask_to_polygons(mask)) == 2


def test_simplify_meets_the_budget():
    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    circle = [(50 + 30 * np.cos(a), 50 + 30 * np.sin(a)) for a in angles]
    for budget in (4, 5, 8, 16, 32):
        simplified = simplify_to_budget([circle], budget)
        assert 3 <= sum(len(p) for p in simplified) <= budget
        assert mask_iou(polygons_to_mask(simplified, 100, 100), polygons_to_mask([circle], 100, 100)) > 0.5
    with pytest.raises(ValueError, match="budget"):
        simplify_to_budget([circle], 3)


def test_mask_iou_hand_computed_and_edge_cases():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert mask_iou(a, b) == 1.0  # both empty
    b[0, :2] = True
    assert mask_iou(a, b) == 0.0  # empty prediction
    assert mask_iou(b, a) == 0.0  # empty ground truth
    a[0, 1:3] = True
    assert mask_iou(a, b) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="shapes differ"):
        mask_iou(a, np.zeros((3, 3), bool))


def _coco_masks(coco_sample_dir):
    coco = CocoInstances.from_folder(coco_sample_dir)
    return list(coco.objects())


def test_coco_round_trip_reaches_097_at_32_vertices(coco_sample_dir):
    objects = [o for o in _coco_masks(coco_sample_dir) if not o.iscrowd]
    assert len(objects) == 76
    ious = []
    for obj in objects:
        polygons = mask_to_polygons(obj.mask, max_vertices=32)
        assert sum(len(p) for p in polygons) <= 32
        ious.append(mask_iou(polygons_to_mask(polygons, obj.height, obj.width), obj.mask))
    assert np.mean(ious) >= 0.97


def test_mask_iou_agrees_with_pycocotools_on_coco_masks(coco_sample_dir):
    objects = _coco_masks(coco_sample_dir)
    crowd = [o for o in objects if o.iscrowd]
    assert len(crowd) == 1 and crowd[0].mask.sum() > 0  # the RLE annotation decodes
    for obj in objects[:40]:
        traced = polygons_to_mask(mask_to_polygons(obj.mask, max_vertices=16), obj.height, obj.width)
        rle_a = mask_utils.encode(np.asfortranarray(traced.astype(np.uint8)))
        rle_b = mask_utils.encode(np.asfortranarray(obj.mask.astype(np.uint8)))
        reference = mask_utils.iou([rle_a], [rle_b], [0])[0, 0]
        assert mask_iou(traced, obj.mask) == pytest.approx(reference, abs=1e-9)


@pytest.mark.parametrize("bad, message", [(float("nan"), "non-finite"), (float("inf"), "non-finite"),
                                          (1e20, "beyond the limit of 1e\\+06"), (-3e6, "beyond the limit")])
def test_vertices_pycocotools_cannot_rasterise_are_refused(bad, message):
    # NaN hung pycocotools, 1e20 crashed the interpreter, 1e9 returned a wrong mask
    with pytest.raises(PolygonError, match=message):
        polygons_to_mask([[(0.0, 0.0), (bad, 0.0), (10.0, 10.0)]], 20, 20)
    with pytest.raises(PolygonError, match=message):
        flat_to_points([0.0, 0.0, bad, 0.0, 10.0, 10.0])
    far_but_allowed = polygons_to_mask([[(0.0, 0.0), (1e6, 0.0), (10.0, 10.0)]], 20, 20)
    assert far_but_allowed.any()


@pytest.mark.parametrize("pixels", [
    [(3, 4)],                                # one pixel
    [(3, c) for c in range(1, 3)],           # two pixels in a row
    [(r, 2) for r in range(1, 4)],           # a thin vertical line under min_area
])
def test_tiny_objects_keep_an_outline(pixels):
    mask = np.zeros((10, 10), bool)
    for r, c in pixels:
        mask[r, c] = True
    polygons = mask_to_polygons(mask)
    assert polygons and mask_iou(polygons_to_mask(polygons, 10, 10), mask) == 1.0


def test_a_mask_of_specks_keeps_its_largest_and_an_empty_mask_gives_nothing():
    mask = np.zeros((10, 10), bool)
    mask[1, 1] = mask[8, 1] = True
    mask[5:7, 5] = True
    assert mask_to_polygons(mask) == [[(5.0, 5.0), (6.0, 5.0), (6.0, 7.0), (5.0, 7.0)]]
    assert mask_to_polygons(np.zeros((5, 5), bool)) == []


def test_an_rle_of_another_size_than_its_image_is_refused():
    rle = {"size": [10, 10], "counts": [100]}
    with pytest.raises(ValueError, match=r"size \[10, 10\] \(height, width\) but its image is \[30, 40\]"):
        rle_to_mask(rle, 30, 40)
    with pytest.raises(ValueError, match="counts are not 30 x 40"):
        rle_to_mask({"size": [30, 40], "counts": [100]}, 30, 40)
    assert rle_to_mask({"size": [30, 40], "counts": [1200]}, 30, 40).shape == (30, 40)


def test_interior_point_is_the_centroid_or_the_nearest_pixel_inside():
    import numpy as np
    import pytest

    from vlmkit.core.polygons import interior_point

    square = np.zeros((10, 10), bool)
    square[2:6, 4:8] = True
    assert interior_point(square) == (5.5, 3.5)  # pixel centroid row 3.5, column 5.5: pixel (3, 5), inside
    ring = np.zeros((9, 9), bool)
    ring[1:8, 1:8] = True
    ring[3:6, 3:6] = False  # the centroid of a ring is its hole
    x, y = interior_point(ring)
    assert ring[int(y), int(x)] and abs(x - 4.5) + abs(y - 4.5) <= 2.0
    with pytest.raises(ValueError, match="empty mask"):
        interior_point(np.zeros((3, 3), bool))
