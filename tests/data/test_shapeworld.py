import numpy as np
import pytest
from shapely.geometry import Polygon

from vlmkit.core.polygons import flat_to_points, mask_iou, polygons_to_mask
from vlmkit.data.schema import check_row
from vlmkit.data.shapeworld import KINDS, SceneConfig, ShapeWorld, captions, generate_scene, resolve
from vlmkit.data.shapeworld.dataset import HELD_OUT_PAIRS, SPLIT_KINDS, statistics
from vlmkit.data.shapeworld.language import UnresolvableExpression, named_attributes, referring_expressions
from vlmkit.data.shapeworld.scenes import COLOURS
from vlmkit.text.codecs import Codec

WORLD = ShapeWorld()


def test_same_seed_same_scene_and_text_other_seed_differs():
    a, b = WORLD.rows("train", 7), WORLD.rows("train", 7)
    assert [r["expressions"] for r in a] == [r["expressions"] for r in b]
    assert np.array_equal(np.asarray(a[0]["image"]), np.asarray(b[0]["image"]))
    other = ShapeWorld(seed=1).rows("train", 7)
    assert not np.array_equal(np.asarray(a[0]["image"]), np.asarray(other[0]["image"]))


def test_every_expression_of_a_large_sample_resolves_to_exactly_its_object():
    checked = 0
    for i in range(300):
        scene, rng = WORLD.scene("train", i)
        for k in range(len(scene.objects)):
            for kind, text in referring_expressions(scene, k, rng):
                resolution = resolve(text, scene)
                assert resolution.unique and resolution.referents == (k,), (i, k, text, resolution)
                assert resolution.kind == kind
                checked += 1
    assert checked > 2000


def test_all_expression_kinds_occur():
    rows = [r for i in range(200) for r in WORLD.rows("train", i)]
    assert set(statistics(rows)["expression_kinds"]) == set(KINDS)


def test_resolver_reports_ambiguity_and_rejects_unknown_text():
    scene, _ = WORLD.scene("train", 0)
    shapes = [o.shape for o in scene.objects]
    repeated = next((s for s in set(shapes) if shapes.count(s) > 1), None)
    if repeated:
        assert len(resolve(f"the {repeated}", scene).referents) > 1
    with pytest.raises(UnresolvableExpression):
        resolve("the shape that looks happy", scene)


def test_polygon_mask_box_and_pixels_agree():
    for i in range(100):
        scene, _ = WORLD.scene("train", i)
        for obj in scene.objects:
            raster = polygons_to_mask(obj.polygons, scene.size, scene.size)
            assert mask_iou(raster, obj.mask) >= 0.97
            ys, xs = np.nonzero(obj.mask)
            x1, y1, x2, y2 = obj.box
            assert x1 - 1 <= xs.min() and xs.max() + 1 <= x2 + 1 and y1 - 1 <= ys.min() and ys.max() + 1 <= y2 + 1
            colours = scene.image[obj.mask].astype(float).mean(axis=0)
            assert np.abs(colours - COLOURS[obj.colour]).max() < 12  # noise is mild


def test_occlusion_can_split_an_object_into_several_exact_parts():
    world = ShapeWorld(SceneConfig(max_occlusion=0.5))  # the default 0.25 keeps objects whole almost always
    split = [(i, r) for i in range(400) for r in world.rows("train", i) if len(r["polygons"]) > 1]
    assert split
    i, row = split[0]
    scene, _ = world.scene("train", i)
    obj = scene.objects[int(row["id"].split("/")[-1])]
    raster = polygons_to_mask([flat_to_points(p) for p in row["polygons"]], scene.size, scene.size)
    assert mask_iou(raster, obj.mask) >= 0.97


def test_polygons_follow_the_visible_part_they_were_read_from():
    scene, _ = ShapeWorld().scene("train", 3)
    obj = scene.objects[0]
    first = obj.polygons
    assert obj.polygons is first  # read once: the painter and the rows share it
    obj.visible = obj.visible.buffer(-1.0)  # a new visible part (as layout attempts set) is read again
    shrunk = obj.polygons
    assert shrunk is not first and Polygon(shrunk[0]).area < Polygon(first[0]).area


def test_rows_follow_the_unified_schema_and_encode():
    codec = Codec("loc", 64)
    for row in WORLD.rows("train", 3):
        check_row(row)
        codec.encode_box(row["box"], row["width"], row["height"])
        codec.encode_polygons([flat_to_points(p) for p in row["polygons"]], row["width"], row["height"])


def test_compositional_split_pairs_never_appear_in_train():
    train_pairs = {(o.colour, o.shape) for i in range(500) for o in WORLD.scene("train", i)[0].objects}
    assert not train_pairs & set(HELD_OUT_PAIRS)
    colours_seen = {c for c, _ in train_pairs}
    assert {c for c, _ in HELD_OUT_PAIRS} <= colours_seen  # the words themselves are known
    comp = [r for i in range(50) for r in WORLD.rows("test_comp", i)]
    assert comp and all(r["category"] in {s for _, s in HELD_OUT_PAIRS} for r in comp)


def test_test_splits_keep_only_their_kinds():
    for split in ("testA", "testB"):
        rows = [r for i in range(60) for r in WORLD.rows(split, i)]
        assert rows and all(k in SPLIT_KINDS[split] for r in rows for k in r["expression_kinds"])


def test_a_world_can_say_fewer_kinds_and_rejects_unknown_ones():
    attribute_only = ShapeWorld(kinds=("attribute",))
    rows = [r for i in range(60) for r in attribute_only.rows("train", i)]
    kinds = {k for r in rows for k in r["expression_kinds"]}
    assert kinds == {"attribute"}
    # same scenes as the full world, whose objects also get the other kinds
    assert [r["id"] for r in rows] == [r["id"] for i in range(60) for r in WORLD.rows("train", i)]
    with pytest.raises(ValueError, match="unknown expression kinds"):
        ShapeWorld(kinds=("attribute", "colour"))


def test_dataset_round_trips_through_datasets():
    ds = WORLD.dataset("val", 5, progress=False)
    assert ds.features["box"].length == 4
    assert ds[0]["image"].size == (64, 64)
    assert ds[0]["expressions"]


def test_captions_name_every_object():
    scene, _ = WORLD.scene("train", 11)
    first = captions(scene)[0]
    for obj in scene.objects:
        assert f"{obj.colour} {obj.shape}" in first


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_objects": 0}, "at least one object"),
        ({"colours": ("red", "ultraviolet")}, "unknown colour"),
        ({"shapes": ("circle", "blob")}, "unknown shape"),
        ({"image_size": 16}, "too small"),
        ({"image_size": 64, "max_objects": 8}, "too small for 8"),
        ({"min_objects": 3, "max_objects": 2}, "max_objects"),
    ],
)
def test_bad_parameters_give_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SceneConfig(**kwargs)


def test_unknown_split_and_bad_held_out_pairs_are_rejected():
    with pytest.raises(ValueError, match="unknown ShapeWorld split"):
        WORLD.rows("training", 0)
    with pytest.raises(ValueError, match="combination"):
        ShapeWorld(held_out=(("red", "hexagon"),))  # hexagon is not in the default config


def test_bigger_images_and_more_shapes_work():
    config = SceneConfig(image_size=224, max_objects=4, shapes=("circle", "square", "triangle", "diamond", "hexagon"))
    scene = generate_scene(config, np.random.default_rng(0))
    assert scene.image.shape == (224, 224, 3)


def test_attribute_expressions_are_grouped_by_the_attributes_they_name():
    assert named_attributes("the red circle") == "colour+shape"
    assert named_attributes("the small blue shape in the picture") == "size+colour"
    assert named_attributes("the triangle") == "shape"
    assert named_attributes("the object") == "none"
    with pytest.raises(UnresolvableExpression, match="not an attribute expression"):
        named_attributes("a red circle")
    with pytest.raises(UnresolvableExpression, match="not an attribute expression"):
        named_attributes("the leftmost circle")


def test_every_caption_reads_back_into_the_scenes_objects():
    """captions() and read_caption() are one grammar: the caption of each of 300 scenes reads back
    into the scene's objects, left to right."""
    from vlmkit.data.shapeworld.language import read_caption, scene_objects

    world = ShapeWorld()
    for index in range(300):
        scene, _ = world.scene("val", index)
        [caption] = captions(scene)
        assert read_caption(caption) == scene_objects(scene)


@pytest.mark.parametrize("text", ["", "a big red", "a big red circle and", "a huge red circle", "two shapes:",
                                  "a big red circle at the top left",
                                  "three shapes: a big red circle", "the big red circle", "a big red circle, hello"])
def test_a_caption_outside_the_grammar_reads_as_none(text):
    from vlmkit.data.shapeworld.language import read_caption

    assert read_caption(text) is None
