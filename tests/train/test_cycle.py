"""The cycle filter keeps a generated description only when it leads back to its object."""

import numpy as np

import vlmkit.evaluation.evaluate as evaluate
from vlmkit.data.shapeworld import ShapeWorld
from vlmkit.train.cycle import harvest_descriptions


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


def _recipe(**overrides):
    from vlmkit.train.recipes import recipe_for

    return recipe_for("04_combined", "tiny", smoke=True, **overrides)


def test_compare_cycle_trains_one_copy_on_the_kept_descriptions_and_leaves_the_start_alone(micro_model, monkeypatch):
    """The two arms differ only in the stream: the cycle arm draws about ``cycle_share`` of its
    examples from the kept rows (as grounding and as description), the other none; the model
    passed in is not trained."""
    import torch

    import vlmkit.train.cycle as cycle
    from vlmkit.train.profiles import load_profile

    profile = load_profile("tiny", announce=False)
    rows = list(ShapeWorld().dataset("train", 3, progress=False))
    kept = [dict(r, expressions=[r["expressions"][0]], expression_kinds=["cycle"]) for r in rows[:2]]
    harvest = cycle.CycleHarvest(kept, ["a", "b", "c"], np.ones(3), np.array([True, True, False]), np.ones(3, bool))
    monkeypatch.setattr(cycle, "harvest_descriptions", lambda *a, **k: harvest)
    drawn = {}

    class Recorder(cycle.Trainer):
        def train(self):
            arm = "with" if isinstance(self.stream, cycle.MixtureStream) and len(self.stream.streams) == 3 else "without"
            examples = [self.stream[i] for i in range(400)]
            drawn[arm] = [ex for ex in examples if ex.row.get("expression_kinds") == ["cycle"]]
            return super().train()

    monkeypatch.setattr(cycle, "Trainer", Recorder)
    before = {k: v.clone() for k, v in micro_model.state_dict().items()}
    eval_rows = list(ShapeWorld().dataset("val", 2, progress=False))
    table, got = cycle.compare_cycle(micro_model, profile, _recipe(cycle_steps=2, cycle_share=0.25), eval_rows, eval_rows)

    assert got is harvest and list(table) == ["without the cycle", "with the cycle"]
    assert table["with the cycle"]["kept descriptions"] == 2 and table["without the cycle"]["kept descriptions"] == 0
    assert drawn["without"] == []
    assert 0.15 < len(drawn["with"]) / 400 < 0.35
    assert {ex.task for ex in drawn["with"]} == {"ground", "describe"}
    assert {ex.row["id"] for ex in drawn["with"]} <= {r["id"] for r in kept}
    for arm in table.values():
        assert 0.0 <= arm["ground acc@0.5"] <= 1.0 and 0.0 <= arm["resolves uniquely"] <= 1.0
        assert arm["describe cider_se"] >= 0.0  # what race_verdict judges the CIDEr race by
    assert all(torch.equal(before[k], v) for k, v in micro_model.state_dict().items())


def test_compare_cycle_with_nothing_kept_says_so_and_trains_only_the_run_without(micro_model, monkeypatch, capsys):
    import vlmkit.train.cycle as cycle
    from vlmkit.train.profiles import load_profile

    empty = cycle.CycleHarvest([], ["a"], np.zeros(1), np.zeros(1, bool), np.zeros(1, bool))
    monkeypatch.setattr(cycle, "harvest_descriptions", lambda *a, **k: empty)
    rows = list(ShapeWorld().dataset("val", 1, progress=False))
    table, _ = cycle.compare_cycle(micro_model, load_profile("tiny", announce=False), _recipe(cycle_steps=1), rows, rows)
    assert list(table) == ["without the cycle"]
    assert "the cycle kept none of 1 descriptions" in capsys.readouterr().out
