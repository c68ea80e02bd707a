import dataclasses

import numpy as np
import pytest

from vlmkit.data.shapeworld import ShapeWorld
from vlmkit.data.shapeworld.language import read_caption
from vlmkit.data.shapeworld.scenes import COLOURS
from vlmkit.text.codecs import Codec
from vlmkit.text.tasks import TASKS, CurriculumStream, RowStream, make_example
from vlmkit.train.profiles import load_profile
from vlmkit.train.recipes import GroundRecipe
from vlmkit.train.streams import colour_only, curriculum_stream, multi_object_world, naming_colour, shapeworld_stream

CODEC = Codec("loc", 64)


def test_every_task_makes_a_prompt_and_an_answer_that_parses():
    row = ShapeWorld().rows("train", 2)[0]
    rng = np.random.default_rng(0)
    for task in TASKS:
        ex = make_example(row, task, CODEC, rng)
        assert ex.prompt and ex.answer
    ground = make_example(row, "ground", CODEC, rng)
    assert CODEC.parse_box(ground.answer, 64, 64).ok and ground.expression in row["expressions"]
    assert CODEC.parse_polygons(make_example(row, "segment", CODEC, rng).answer, 64, 64).ok
    point = make_example(row, "point", CODEC, rng)
    x, y = CODEC.parse_point(point.answer, 64, 64).value
    from vlmkit.text.tasks import row_mask

    assert point.prompt.startswith("locate the middle of: ") and row_mask(row)[int(y), int(x)]
    located = make_example(row, "locate_segment", CODEC, rng)
    assert located.prompt.startswith("locate and segment: ")
    box, outline = CODEC.parse_located_outline(located.answer, 64, 64).value
    assert located.answer.startswith(CODEC.encode_box(row["box"], 64, 64))  # the box comes first
    assert outline == CODEC.parse_polygons(make_example(row, "segment", CODEC, rng).answer, 64, 64).value
    assert make_example(row, "describe", CODEC, rng).prompt.startswith("describe: <loc_")


def test_bad_task_or_missing_text_is_a_clear_error():
    row = ShapeWorld().rows("train", 2)[0]
    with pytest.raises(ValueError, match="unknown task"):
        make_example(row, "detect", CODEC, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no referring expressions"):
        make_example(dict(row, expressions=[], expression_kinds=[]), "ground", CODEC, np.random.default_rng(0))


def test_streams_are_deterministic_by_index():
    a, b = shapeworld_stream("ground", CODEC), shapeworld_stream("ground", CODEC)
    assert [a[i].prompt for i in (5, 0, 9)] == [b[i].prompt for i in (5, 0, 9)]
    assert a[1].prompt != a[2].prompt or a[1].answer != a[2].answer


def test_examples_per_scene_asks_about_different_objects_of_one_scene_generated_once():
    world, calls = multi_object_world(), []  # 2-4 objects: always two to ask about

    def rows_at(i):
        calls.append(i)
        return world.rows("train", i)

    stream = RowStream(rows_at, "ground", CODEC, 10**6, per_rows_at=2)
    pairs = [(stream[2 * g], stream[2 * g + 1]) for g in range(6)]
    assert calls == list(range(6))  # one scene per pair of examples, generated once
    assert all(a.row["image_id"] == b.row["image_id"] == f"shapeworld/train/{g}" for g, (a, b) in enumerate(pairs))
    assert all(a.row["id"] != b.row["id"] for a, b in pairs)  # two different objects
    again = shapeworld_stream("ground", CODEC, world, examples_per_scene=2)
    assert [again[i].prompt for i in (7, 3, 8)] == [stream[i].prompt for i in (7, 3, 8)]  # any order, same data
    with pytest.raises(ValueError, match="per_rows_at must be at least 1"):
        RowStream(rows_at, "ground", CODEC, 10, per_rows_at=0)


def test_curriculum_switches_from_single_object_scenes():
    stream = curriculum_stream("ground", CODEC, single_object_examples=20)
    singles = {stream[i].row["image_id"] for i in range(20)}
    assert all("/0" == stream[i].row["id"][-2:] for i in range(20))  # object 0 of a one-object scene
    assert len(singles) == 20
    with pytest.raises(ValueError, match="one count per stream"):
        CurriculumStream([stream], [3])


def objects_in(example) -> int:
    """Objects in the example's scene, read from its caption."""
    return len(read_caption(example.row["captions"][0]))


def test_curriculum_goes_single_objects_then_attribute_pairs_then_the_world():
    # the notebooks' path: Profile.training_stream -> curriculum_stream (6 pair steps of 5 examples)
    recipe = GroundRecipe(steps=100, batch_size=5, attribute_pair_steps=6)
    stream = load_profile("tiny").training_stream("ground", CODEC, recipe, single_object_examples=5)
    assert [objects_in(stream[i]) for i in range(5)] == [1] * 5
    pairs = [stream[i] for i in range(5, 35)]
    assert all(ex.kind == "attribute" and objects_in(ex) == 2 for ex in pairs)
    later = [stream[i] for i in range(35, 135)]
    assert {ex.kind for ex in later} - {"attribute"}  # every kind again
    assert max(map(objects_in, later)) > 2


def test_colour_pairs_name_a_colour_in_every_pair_expression_and_the_old_pairs_do_not():
    colours = set(COLOURS)
    stream = curriculum_stream("ground", CODEC, multi_object_world(0), attribute_pair_examples=200, examples_per_scene=2)
    pairs = [stream[i] for i in range(200)]
    assert all(colours & set(ex.expression.split()) and ex.kind == "attribute" for ex in pairs)
    assert all(objects_in(ex) == 2 for ex in pairs)
    # drawn from all of an object's expressions, not only the shortest: colour alone, and with size
    assert any(ex.expression.split()[-1] in ("shape", "object") for ex in pairs)
    assert any(ex.expression.split()[1] in ("small", "big") for ex in pairs)
    old = curriculum_stream("ground", CODEC, multi_object_world(0), attribute_pair_examples=200, examples_per_scene=2,
                            colour_pairs=False)
    assert any(not colours & set(old[i].expression.split()) for i in range(200))  # "the circle"
    assert all(len(old[i].row["expressions"]) <= 2 for i in range(200))
    # after the pairs both recipes draw the same 2-4 object examples
    assert [stream[i].prompt for i in range(200, 260)] == [old[i].prompt for i in range(200, 260)]



def test_pair_every_keeps_mixing_new_colour_pairs_into_the_later_scenes():
    plain = curriculum_stream("ground", CODEC, multi_object_world(0), attribute_pair_examples=40, examples_per_scene=2)
    mixed = curriculum_stream("ground", CODEC, multi_object_world(0), attribute_pair_examples=40, examples_per_scene=2,
                              pair_every=4)
    later = [mixed[i] for i in range(40, 200)]  # scenes 0-79 of the last stage, two examples each
    pairs = [ex for ex in later if ex.kind == "attribute" and objects_in(ex) == 2
             and set(COLOURS) & set(ex.expression.split())]
    assert 0.2 <= len(pairs) / len(later) <= 0.4  # every 4th scene, plus the odd 2-object scene of the world
    assert [mixed[i].prompt for i in range(40)] == [plain[i].prompt for i in range(40)]  # the pair stage itself
    pair_stage_images = {mixed[i].row["image_id"] for i in range(40)}
    assert not pair_stage_images & {ex.row["image_id"] for ex in pairs}  # new scenes, none seen twice
    # the other scenes are the ones the plain recipe draws
    assert mixed[42].prompt == plain[42].prompt and mixed[41 + 2 * 4].prompt != plain[41 + 2 * 4].prompt
    with pytest.raises(ValueError, match="set attribute_pair_examples"):
        curriculum_stream("ground", CODEC, multi_object_world(0), pair_every=4)

def test_naming_colour_keeps_expressions_and_kinds_together_and_may_leave_none():
    rows = [{"id": "a", "expressions": ["the circle", "the red circle", "the small red shape"],
             "expression_kinds": ["attribute", "attribute", "size"]},
            {"id": "b", "expressions": ["the leftmost shape"], "expression_kinds": ["absolute"]}]
    kept = naming_colour(rows)
    assert kept[0]["expressions"] == ["the red circle", "the small red shape"]
    assert kept[0]["expression_kinds"] == ["attribute", "size"] and kept[0]["id"] == "a"
    assert kept[1]["expressions"] == [] and kept[1]["expression_kinds"] == []
    assert rows[0]["expressions"][0] == "the circle"  # the input rows are not changed



def test_colour_only_keeps_attribute_expressions_that_name_a_colour_and_nothing_else():
    rows = [{"expressions": ["the red shape", "the red circle", "the small red object", "the red object in the picture",
                             "the leftmost red shape", "the shape"],
             "expression_kinds": ["attribute", "attribute", "attribute", "attribute", "absolute", "attribute"]}]
    assert colour_only(rows)[0]["expressions"] == ["the red shape", "the red object in the picture"]

def test_the_notebooks_stream_pairs_questions_in_every_curriculum_stage():
    recipe = GroundRecipe(steps=100, batch_size=5, attribute_pair_steps=2, examples_per_scene=2)
    stream = load_profile("tiny").training_stream("ground", CODEC, recipe)
    for start in (0, 10, 40):  # attribute pairs, then 2-4 objects
        a, b = stream[start], stream[start + 1]
        assert a.row["image_id"] == b.row["image_id"] and a.row["id"] != b.row["id"]
    assert stream[0].kind == "attribute" and objects_in(stream[0]) == 2


def test_task_mixture_follows_its_weights():
    mix = load_profile("tiny").mixture_stream({"caption": 1.0, "ground": 3.0}, CODEC)
    tasks = [mix[i].task for i in range(200)]
    assert 0.6 < tasks.count("ground") / 200 < 0.9


def test_a_mixture_with_scenes_reuses_that_many_in_each_task():
    tiny = load_profile("tiny")
    weights = {"caption": 1.0, "ground": 1.0}
    reused, fresh = tiny.mixture_stream(weights, CODEC, scenes=3), tiny.mixture_stream(weights, CODEC)
    seen = {"caption": set(), "ground": set()}
    for i in range(60):
        example = reused[i]
        seen[example.task].add(example.row["image_id"])
        assert example.task == fresh[i].task  # the same task at each index; only the scenes differ
    assert seen == {task: {f"shapeworld/train/{k}" for k in range(3)} for task in seen}
    assert len({fresh[i].row["image_id"] for i in range(60)}) > 20
    grounding = [reused[i] for i in range(60) if reused[i].task == "ground"]
    assert len({e.prompt for e in grounding}) > 3  # the same scenes asked in other words and about other objects


def test_epoch_shuffled_visits_every_row_once_per_epoch_in_a_new_order():
    from vlmkit.data.sources import epoch_shuffled

    rows = [{"id": i} for i in range(10)]
    at = epoch_shuffled(rows, seed=3)
    first, second = [at(i)[0]["id"] for i in range(10)], [at(i)[0]["id"] for i in range(10, 20)]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second and first != list(range(10))
    assert [epoch_shuffled(rows, seed=3)(i)[0]["id"] for i in range(10)] == first  # deterministic
    with pytest.raises(ValueError, match="no rows"):
        epoch_shuffled([])


def test_reused_scenes_draws_each_scene_once_and_every_one_again_each_epoch():
    from vlmkit.train.streams import reused_scenes

    drawn = []
    rows_at = reused_scenes(lambda i: drawn.append(i) or [{"scene": i}], scenes=5, seed=1)
    epochs = [[rows_at(e * 5 + k)[0]["scene"] for k in range(5)] for e in range(3)]
    assert all(sorted(epoch) == list(range(5)) for epoch in epochs)
    assert epochs[1] != epochs[2]  # a new order each epoch
    assert sorted(drawn) == list(range(5))  # drawn once, kept after
    assert rows_at(7) is rows_at(7)
    again = reused_scenes(lambda i: [{"scene": i}], scenes=5, seed=1)
    assert [again(i)[0]["scene"] for i in range(15)] == sum(epochs, [])  # a resumed run sees the same order
    with pytest.raises(ValueError, match="scenes must be at least 1"):
        reused_scenes(lambda i: [], scenes=0)


def test_a_recipe_with_scenes_reuses_them_in_the_last_stage_only():
    recipe = GroundRecipe(steps=100, batch_size=4, attribute_pair_steps=5, examples_per_scene=2, scenes=10)
    stream = load_profile("tiny").training_stream("ground", CODEC, recipe)
    fresh = load_profile("tiny").training_stream("ground", CODEC, dataclasses.replace(recipe, scenes=0))
    assert [stream[i].prompt for i in range(20)] == [fresh[i].prompt for i in range(20)]  # the pair stage
    later = [stream[i].row["image_id"] for i in range(20, 20 + 200)]  # 100 scene visits: 10 epochs of 10
    assert set(later) == {f"shapeworld/train/{k}" for k in range(10)}  # the 2-4 object world's first 10
    assert len({fresh[i].row["image_id"] for i in range(20, 220)}) == 100
    # a scene asked again is asked about other objects or in other words, not the same example
    asked = {}
    for i in range(20, 220):
        asked.setdefault(stream[i].row["image_id"], set()).add(stream[i].prompt)
    assert all(len(prompts) > 2 for prompts in asked.values())


def test_usable_rows_are_those_that_hold_what_the_task_needs():
    from vlmkit.text.tasks import usable_rows

    box = {"expressions": ["the dog"], "polygons": [], "captions": []}
    outline = {"expressions": ["the cat"], "polygons": [[1, 1, 5, 1, 5, 5]], "captions": []}
    caption = {"expressions": [], "polygons": [], "captions": ["a dog and a cat"]}
    rows = [box, outline, caption]
    assert usable_rows(rows, "ground") == usable_rows(rows, "describe") == [box, outline]
    assert usable_rows(rows, "locate_segment") == usable_rows(rows, "segment") == usable_rows(rows, "point") == [outline]
    assert usable_rows(rows, "caption") == [caption]
    with pytest.raises(ValueError, match="unknown task 'detect'"):
        usable_rows(rows, "detect")
