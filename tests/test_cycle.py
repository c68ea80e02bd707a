"""The cycle filter keeps a generated description only when it leads back to its object."""

import numpy as np

import vlmkit.evaluate as evaluate
from vlmkit.cycle import harvest_descriptions
from vlmkit.shapeworld import ShapeWorld


def test_the_cycle_keeps_only_descriptions_that_ground_back_and_resolve(micro_model, monkeypatch):
    """Answers are scripted per query (the model's weights are not the point here): object 0 is
    described by its own expression and grounded on its box (kept); object 1 is grounded on
    its box but described by an expression of another object (the resolver refuses it);
    object 2's description grounds elsewhere (refused); object 3 gets no description."""
    world = ShapeWorld()
    rows = [r for r in world.dataset("val", 6, progress=False)][:4]
    codec = micro_model.codec
    descriptions = [rows[0]["expressions"][0], rows[0]["expressions"][0], rows[2]["expressions"][0], ""]
    far = [0, 0, 1, 1]

    def scripted(model, examples, *args, **kwargs):
        if examples[0].task == "describe":
            return descriptions
        return [codec.encode_box(far if i == 2 else ex.row["box"], ex.row["width"], ex.row["height"])
                for i, ex in enumerate(examples)]

    monkeypatch.setattr(evaluate, "predict", scripted)
    harvest = harvest_descriptions(micro_model, rows, world)
    assert harvest.grounded.tolist() == [True, True, False, False]
    assert harvest.resolved[0] and not harvest.resolved[1]
    assert harvest.kept.tolist() == [True, False, False, False]
    assert [r["id"] for r in harvest.rows] == [rows[0]["id"]]
    assert harvest.rows[0]["expressions"] == [descriptions[0]] and harvest.rows[0]["expression_kinds"] == ["cycle"]
    without_resolver = harvest_descriptions(micro_model, rows)  # real data: the grounding check alone
    assert without_resolver.kept.tolist() == [True, True, False, False]
    assert np.all(without_resolver.ious[:2] >= 0.5) and without_resolver.ious[2] < 0.5  # 3: no text to keep
