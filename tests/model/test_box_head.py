"""Box regression beside the token answer (vlmkit.model.box_head)."""

from dataclasses import replace

import pytest
import torch

from tests.conftest import MICRO
from vlmkit.evaluation.evaluate import evaluate_box_head
from vlmkit.model.box_head import BoxHead, box_regression_loss
from vlmkit.storage.checkpoint import load_model, save_checkpoint
from vlmkit.text.processor import Processor
from vlmkit.train.profiles import new_model
from vlmkit.train.streams import curriculum_stream
from vlmkit.train.trainer import TrainConfig, Trainer

CONFIG = TrainConfig(steps=80, batch_size=16, lr=5e-3, warmup_steps=0, progress=False, mixed_precision="no",
                     objective="box", log_every=1)


def test_the_head_gives_ordered_normalised_boxes_and_the_loss_is_zero_only_on_target():
    head = BoxHead(8)
    boxes = head(torch.randn(5, 8))
    assert boxes.shape == (5, 4)
    assert torch.all(boxes[:, 2] > boxes[:, 0]) and torch.all(boxes[:, 3] > boxes[:, 1])
    target = torch.tensor([[0.1, 0.2, 0.5, 0.6]])
    assert box_regression_loss(target, target).item() == pytest.approx(0.0, abs=1e-6)
    shifted = target + torch.tensor([[0.1, 0.0, 0.1, 0.0]])  # moved right by 0.1: L1 0.1, GIoU 1 - 0.3/0.5
    assert box_regression_loss(shifted, target).item() == pytest.approx(0.1 + (1 - 0.3 / 0.5), abs=1e-5)


def test_training_the_head_lowers_its_loss_and_it_saves_and_reloads(tmp_path):
    torch.manual_seed(0)
    model = new_model("tiny", **MICRO, box_head=True)
    stream = curriculum_stream("ground", model.codec, single_object_examples=10**6)
    head_before = [p.detach().clone() for p in model.box_head.parameters()]
    trainer = Trainer(model, stream, CONFIG)
    rates = {id(p): g["initial_lr"] for g in trainer.optimizer.param_groups for p in g["params"]}
    assert {rates[id(p)] for p in model.box_head.parameters()} == {CONFIG.lr}  # a new part: the projector's rate
    history = trainer.train()
    assert all(not torch.equal(a, b) for a, b in zip(head_before, model.box_head.parameters()))
    losses = [h["loss"] for h in history if "loss" in h]
    assert sum(losses[-10:]) / 10 < 0.9 * sum(losses[:10]) / 10  # 1.55 -> 1.38 (seeded)
    rows = [stream[i].row for i in range(12)]
    scores = evaluate_box_head(model, rows).metrics
    assert scores["parse_rate"] == 1.0 and 0.0 < scores["mean_iou"] <= 1.0
    save_checkpoint(model, tmp_path / "ck")
    reloaded = load_model(tmp_path / "ck").eval()
    batch = Processor.for_model(model).prompt_batch([stream[0]])
    assert torch.equal(reloaded.regress_boxes(**batch), model.eval().regress_boxes(**batch))


def test_the_box_objective_needs_a_head_and_a_known_name(micro_model):
    stream = curriculum_stream("ground", micro_model.codec)
    with pytest.raises(ValueError, match="build the model with box_head=True"):
        Trainer(micro_model, stream, CONFIG)
    with pytest.raises(ValueError, match="objective='boxes'"):
        Trainer(micro_model, stream, replace(CONFIG, objective="boxes"))
    with pytest.raises(ValueError, match="no box head"):
        micro_model.regress_boxes(**Processor.for_model(micro_model).prompt_batch([stream[0]]))
