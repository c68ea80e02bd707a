import math
import os
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from accelerate.state import AcceleratorState

from vlmkit.storage.checkpoint import CheckpointError, load_model
from vlmkit.text.processor import IGNORE_INDEX, Processor
from vlmkit.train import trainer as trainer_module
from vlmkit.train.batches import MicroBatches, batch_loader, keep_first_answer_label
from vlmkit.train.profiles import new_model
from vlmkit.train.recipes import GroundRecipe
from vlmkit.train.streams import curriculum_stream
from vlmkit.train.trainer import TrainConfig, Trainer, resolve_mixed_precision

from tests.conftest import MICRO

CONFIG = TrainConfig(steps=6, batch_size=4, lr=3e-3, warmup_steps=2, log_every=1, progress=False, seed=0)


def _fresh():
    torch.manual_seed(0)
    model = new_model("tiny", **MICRO)
    return model, curriculum_stream("ground", model.codec, single_object_examples=8)


@pytest.mark.parametrize("precision, optimizer", [("no", "adamw"), ("bf16", "adamw"), ("fp16-rounded", "adamw"),
                                                  ("no", "muon"), ("fp16-rounded", "muon")])
def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path, precision, optimizer):
    config = replace(CONFIG, mixed_precision=precision, optimizer=optimizer)
    model, stream = _fresh()
    Trainer(model, stream, config).train()
    straight = model.state_dict()

    model, stream = _fresh()
    first = Trainer(model, stream, config, output_dir=tmp_path / "run")
    first.train(until_step=3)
    assert first.step == 3
    del first, model

    restored = load_model(tmp_path / "run")  # a new process would start here
    second = Trainer(restored, curriculum_stream("ground", restored.codec, single_object_examples=8), config,
                     output_dir=tmp_path / "run")
    second.resume(tmp_path / "run")
    assert second.step == 3
    second.train()
    resumed = second.unwrapped.state_dict()
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


def test_the_weights_do_not_depend_on_how_many_workers_build_the_batches(tmp_path):
    """0 or 2 worker processes, and a run resumed with another count: the same examples in the
    same order, so bit-identical weights (grad_accum 2: micro-batches of one step too)."""
    config = replace(CONFIG, grad_accum=2, mixed_precision="no", first_token_steps=2)
    ends = []
    for workers in (0, 2):
        model, stream = _fresh()
        trainer = Trainer(model, stream, replace(config, data_workers=workers))
        trainer.train(until_step=2)
        iterator = trainer._pending[0]
        expected = "_MultiProcessingDataLoaderIter" if workers else "_SingleProcessDataLoaderIter"
        assert type(iterator).__name__ == expected
        trainer.train(until_step=4)
        assert trainer._pending[0] is iterator  # continued: the same workers
        trainer.train()
        assert trainer._pending is None  # the run is over: no workers left behind
        ends.append(model.state_dict())
    model, stream = _fresh()
    Trainer(model, stream, replace(config, data_workers=2), output_dir=tmp_path / "run").train(until_step=3)
    restored = load_model(tmp_path / "run")
    resumed = Trainer(restored, curriculum_stream("ground", restored.codec, single_object_examples=8), config,
                      output_dir=tmp_path / "run")  # data_workers 0: bookkeeping, so the same run
    resumed.resume(tmp_path / "run")
    resumed.train()
    ends.append(resumed.unwrapped.state_dict())
    for end in ends[1:]:
        assert all(torch.equal(ends[0][name], weights) for name, weights in end.items())
    with pytest.raises(ValueError, match="data_workers is a number of processes, at least 0; got -1"):
        Trainer(*_fresh(), replace(config, data_workers=-1)).train()


def test_a_micro_batch_is_built_from_the_stream_indices_of_its_step_and_process():
    model, stream = _fresh()
    batches = MicroBatches(stream, Processor.for_model(model), batch_size=3, steps=4, grad_accum=2, processes=2,
                           process_index=1)
    # micro-batch 1 of step 2 = index 5; with 2 processes of 3 examples, process 1 reads 33..35
    assert batches.index(2, 1) == 5 and len(batches) == 8
    assert [ex.prompt for ex in batches.examples(5)] == [stream[i].prompt for i in (33, 34, 35)]
    state = torch.get_rng_state()
    loaded = list(batch_loader(batches, start=5))
    assert len(loaded) == 3 and torch.equal(loaded[0]["input_ids"], batches[5]["input_ids"])
    assert torch.equal(torch.get_rng_state(), state)  # the run's random numbers are not drawn from


def test_the_loss_is_read_only_at_log_steps_and_a_non_finite_one_still_stops_training(monkeypatch):
    """No host sync per micro-batch: ``.item()`` on the loss happens once per log step."""
    model, stream = _fresh()
    reads, item = [], torch.Tensor.item

    def counted_item(tensor):
        reads.append(sys._getframe(1).f_code.co_filename)
        return item(tensor)

    monkeypatch.setattr(torch.Tensor, "item", counted_item)
    Trainer(model, stream, replace(CONFIG, steps=6, log_every=3, grad_accum=2)).train()  # 12 micro-batches
    assert sum(caller == trainer_module.__file__ for caller in reads) == 2
    model, stream = _fresh()
    forward = model.forward

    def nan_loss(**batch):
        out = forward(**batch)
        out.loss = out.loss * float("nan")
        return out

    model.forward = nan_loss
    with pytest.raises(FloatingPointError, match="the loss became nan between step 0 and step 3"):
        Trainer(model, stream, replace(CONFIG, steps=6, log_every=3)).train()


@pytest.mark.parametrize(("steps", "evaluations", "expected"), [(10, 3, 3), (8, 4, 4), (95, 8, 8), (9, 8, 5)])
def test_a_recipe_evaluates_at_most_as_often_as_it_says_the_last_time_at_the_end(steps, evaluations, expected):
    model, stream = _fresh()
    config = GroundRecipe(steps=steps, batch_size=4, evaluations=evaluations, first_token_steps=0,
                          attribute_pair_steps=0).train_config(progress=False)
    evaluated_at = []
    trainer = Trainer(model, stream, config, evaluate=lambda m: evaluated_at.append(trainer.step) or {})
    trainer.train()
    assert len(evaluated_at) == expected and evaluated_at[-1] == steps  # 9 steps: every second, then the end
    assert len(set(evaluated_at)) == len(evaluated_at)


def test_resuming_with_another_train_config_is_refused_with_the_differences(tmp_path):
    model, stream = _fresh()
    Trainer(model, stream, CONFIG, output_dir=tmp_path / "run").train(until_step=2)
    model, stream = _fresh()
    changed = Trainer(model, stream, replace(CONFIG, lr=1e-2, batch_size=8, eval_every=3), output_dir=tmp_path / "x")
    with pytest.raises(ValueError, match=r"another TrainConfig \(batch_size 4 -> 8, lr 0.003 -> 0.01\)"):
        changed.resume(tmp_path / "run")
    assert changed.step == 0
    same_run = Trainer(model, stream, replace(CONFIG, eval_every=3, progress=True), output_dir=tmp_path / "y")
    same_run.resume(tmp_path / "run")  # bookkeeping fields may change
    assert same_run.step == 2


def test_a_rerun_cell_resumes_its_interrupted_run_and_ends_where_one_run_would(tmp_path, capsys):
    model, stream = _fresh()
    Trainer(model, stream, CONFIG).train()
    straight = model.state_dict()

    model, stream = _fresh()
    first = Trainer(model, stream, replace(CONFIG, save_every=2), output_dir=tmp_path / "run")
    assert not first.resume_if_saved()  # nothing saved yet: a fresh run
    build = first.processor.training_batch
    calls = iter(range(100))
    first.processor.training_batch = lambda ex: build(ex) if next(calls) < 5 else (_ for _ in ()).throw(
        KeyboardInterrupt("kernel restarted"))
    with pytest.raises(KeyboardInterrupt):
        first.train()  # dies in step 6; the last periodic save is step 4
    model, stream = _fresh()  # the notebook's cells run again
    again = Trainer(model, stream, replace(CONFIG, save_every=2), output_dir=tmp_path / "run")
    assert again.resume_if_saved() and again.step == 4
    assert "Resumed the interrupted run" in capsys.readouterr().out
    again.train()
    assert all(torch.equal(straight[k], v) for k, v in again.unwrapped.state_dict().items())

    model, stream = _fresh()  # a finished run, or another config, starts over
    assert not Trainer(model, stream, CONFIG, output_dir=tmp_path / "run").resume_if_saved()
    assert "that run had finished" in capsys.readouterr().out
    assert not Trainer(model, stream, replace(CONFIG, lr=1e-2), output_dir=tmp_path / "run").resume_if_saved()
    assert "differs in ['lr']" in capsys.readouterr().out


def test_an_output_dir_that_is_not_a_checkpoint_is_refused_before_training(tmp_path):
    (tmp_path / "notes.md").write_text("mine")
    model, stream = _fresh()
    with pytest.raises(CheckpointError, match="not a vlmkit checkpoint"):
        Trainer(model, stream, CONFIG, output_dir=tmp_path)
    assert (tmp_path / "notes.md").read_text() == "mine"


def test_training_lowers_the_loss_and_records_history(tmp_path):
    model, stream = _fresh()
    config = TrainConfig(steps=40, batch_size=8, lr=3e-3, warmup_steps=5, log_every=10, progress=False)
    calls = []
    trainer = Trainer(model, stream, config, output_dir=tmp_path / "run",
                      evaluate=lambda m: calls.append(1) or {"acc@0.5": 0.0})
    history = trainer.train()
    losses = [h["loss"] for h in history if "loss" in h]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert calls == [1] and history[-1]["step"] == 40
    assert (tmp_path / "run" / "history.json").is_file()
    assert (tmp_path / "run" / "training_state.pt").is_file()


def test_only_the_first_answer_token_keeps_its_label():
    labels = torch.tensor([[-100, -100, 5, 6, 7], [-100, 8, 9, -100, -100]])
    assert keep_first_answer_label(labels).tolist() == [[-100, -100, 5, -100, -100],
                                                        [-100, 8, -100, -100, -100]]


def test_first_token_steps_train_on_the_first_answer_token_then_on_all():
    model, stream = _fresh()
    trained_labels_per_step = []
    forward = model.forward

    def recording_forward(**batch):
        trained_labels_per_step.append((batch["labels"] != IGNORE_INDEX).sum(dim=1).tolist())
        return forward(**batch)

    model.forward = recording_forward
    Trainer(model, stream, replace(CONFIG, steps=4, first_token_steps=2)).train()
    four_locations_and_eos = 5  # the tiny profile's "loc" box format
    assert trained_labels_per_step == [[1] * 4] * 2 + [[four_locations_and_eos] * 4] * 2


def test_per_part_learning_rates_and_a_frozen_vision_encoder():
    """The projector trains at lr, the LM at lm_lr_scale * lr; vision_lr_scale 0 freezes the
    encoder: no gradients, not in the optimizer, unchanged by training."""
    model, stream = _fresh()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = Trainer(model, stream, replace(CONFIG, steps=2, vision_lr_scale=0.0, lm_lr_scale=0.1))
    rates = {id(p): g["initial_lr"] for g in trainer.optimizer.param_groups for p in g["params"]}
    assert not any(p.requires_grad for p in model.vision.parameters())
    assert not any(id(p) in rates for p in model.vision.parameters())
    assert {rates[id(p)] for p in model.projector.parameters()} == {CONFIG.lr}
    assert [rates[id(p)] for p in model.lm.parameters()] == pytest.approx([CONFIG.lr * 0.1] * len(list(model.lm.parameters())))
    trainer.train()
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(n.startswith("lm.") for n in moved) and any(n.startswith("projector.") for n in moved)
    assert not any(n.startswith("vision.") for n in moved)
    with pytest.raises(ValueError, match="vision_lr_scale is a share of lr"):
        Trainer(model, stream, replace(CONFIG, vision_lr_scale=-1.0))
    with pytest.raises(ValueError, match="lm_lr_scale is a share of lr"):
        Trainer(model, stream, replace(CONFIG, lm_lr_scale=-0.5))
    with pytest.raises(ValueError, match="muon_lr_scale is a share of lr"):
        Trainer(model, stream, replace(CONFIG, optimizer="muon", muon_lr_scale=-2.0))


@pytest.mark.parametrize("precision", ["no", "fp16-rounded"])
def test_gradient_checkpointing_gives_the_same_step(precision):
    """Recomputing activations in backward changes memory, not the result (fp16-rounded: the
    recomputed forward is rounded as the first was)."""
    results = []
    for checkpointing in (False, True):
        model, stream = _fresh()
        trainer = Trainer(model, stream, replace(CONFIG, steps=2, gradient_checkpointing=checkpointing,
                                                 mixed_precision=precision))
        trainer.train()
        assert any(getattr(m, "gradient_checkpointing", False) for m in model.lm.modules()) == checkpointing
        results.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*results))


def test_gradient_accumulation_matches_one_big_batch():
    """2 micro-batches of 4 accumulated take the step one batch of 8 takes (same examples)."""
    results = []
    for batch, accum in ((8, 1), (4, 2)):
        model, stream = _fresh()
        Trainer(model, stream, replace(CONFIG, steps=2, batch_size=batch, grad_accum=accum, mixed_precision="no")).train()
        results.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(*results))


def test_auto_precision_on_a_cpu_is_bf16_only_where_it_measures_faster(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: False, raising=False)
    timed = []
    monkeypatch.setattr(trainer_module, "cpu_bf16_speedup", lambda: timed.append(1) or 2.0)
    assert resolve_mixed_precision("auto") == ("no", "this CPU has no bf16 instructions (bf16 would be emulated, "
                                               "far slower): fp32")
    assert not timed  # no instructions: nothing to time
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert resolve_mixed_precision("auto") == ("bf16", "bf16 autocast measured 2.00x as fast as fp32 on this CPU")
    monkeypatch.setattr(trainer_module, "cpu_bf16_speedup", lambda: 1.05)  # the instructions, but no faster
    precision, why = resolve_mixed_precision("auto")
    assert precision == "no" and "measured 1.05x as fast as fp32: fp32" in why
    # explicit choices stand; a typo and the removed bf16-rounded are refused
    assert resolve_mixed_precision("no")[0] == "no" and resolve_mixed_precision("fp16-rounded")[0] == "fp16-rounded"
    for unknown in ("fp8", "bf16-rounded"):
        with pytest.raises(ValueError, match=f"mixed_precision='{unknown}': choose auto, no, bf16, fp16, fp16-rounded$"):
            resolve_mixed_precision(unknown)
    # fp16 autocast is a GPU's: on a CPU accelerate would silently train fp32 under its name
    with pytest.raises(ValueError, match="'fp16' needs a GPU.*'fp16-rounded'"):
        resolve_mixed_precision("fp16")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_mixed_precision("fp16")[0] == "fp16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    model, stream = _fresh()
    assert Trainer(model, stream, replace(CONFIG, mixed_precision="no")).accelerator.mixed_precision == "no"


def test_the_bf16_probe_times_both_arithmetics_on_this_cpu():
    """A real measurement, once a process: a positive ratio, the same object the second time, and
    the global random state untouched."""
    trainer_module.cpu_bf16_speedup.cache_clear()
    torch.manual_seed(0)
    speedup = trainer_module.cpu_bf16_speedup(rows=64, width=16, rounds=1)
    assert speedup > 0 and math.isfinite(speedup)
    drawn_after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(drawn_after, torch.rand(3))  # the probe left the global random state alone
    assert trainer_module.cpu_bf16_speedup(rows=64, width=16, rounds=1) is speedup


def test_fp16_rounded_training_scales_the_loss_and_skips_the_steps_that_overflow():
    """A T4's fp16 on a CPU: the first steps' scaled gradients overflow fp16, so the scaler skips
    them and halves its scale until they fit (what accelerate's GradScaler does on the GPU);
    then the steps apply, and the run ends elsewhere than fp32's and finite."""
    model, stream = _fresh()
    start = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(model, stream, replace(CONFIG, steps=1, mixed_precision="fp16-rounded"))
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 40)  # certain to overflow fp16 at first
    trainer.train()
    assert trainer.scaler.get_scale() == 2.0 ** 39  # one overflow: halved
    assert all(torch.equal(a, b) for a, b in zip(start, model.parameters()))  # and the step skipped
    assert trainer.scheduler.last_epoch == 0  # the schedule waits for a step that is applied
    model, stream = _fresh()
    trainer = Trainer(model, stream, replace(CONFIG, mixed_precision="fp16-rounded"))
    assert trainer.accelerator.mixed_precision == "no" and trainer.scaler is not None
    trainer.train()
    ends = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.isfinite(ends).all() and trainer.scaler.get_scale() <= 2.0 ** 16
    model, stream = _fresh()
    Trainer(model, stream, replace(CONFIG, mixed_precision="no")).train()
    assert not torch.equal(ends, torch.cat([p.detach().flatten() for p in model.parameters()]))


def test_a_run_resumes_only_in_the_precision_it_trained_in(tmp_path, monkeypatch, capsys):
    """"auto" can choose otherwise on another machine; the checkpoint records what it chose."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(trainer_module, "cpu_bf16_speedup", lambda: 1.4)
    model, stream = _fresh()
    Trainer(model, stream, CONFIG, output_dir=tmp_path / "run").train(until_step=2)  # auto -> bf16
    monkeypatch.setattr(trainer_module, "cpu_bf16_speedup", lambda: 0.7)  # a machine where auto -> fp32
    AcceleratorState._reset_state(True)  # a new process there (accelerate keeps one precision a process)
    model, stream = _fresh()
    elsewhere = Trainer(model, stream, CONFIG)
    with pytest.raises(ValueError, match=r"\(precision 'bf16' -> 'no'\) \('auto' chooses by this machine"):
        elsewhere.resume(tmp_path / "run")
    assert not Trainer(model, stream, CONFIG, output_dir=tmp_path / "run").resume_if_saved()
    assert "differs in ['precision']" in capsys.readouterr().out
    model, stream = _fresh()
    AcceleratorState._reset_state(True)
    pinned = Trainer(model, stream, replace(CONFIG, mixed_precision="bf16"))  # the saved precision, named
    pinned.resume(tmp_path / "run")
    assert pinned.step == 2 and pinned.accelerator.mixed_precision == "bf16"


@pytest.mark.parametrize("name, major, expected", [("A100", 8, "bf16"), ("Tesla T4", 7, "fp16")])
def test_auto_precision_on_a_gpu_is_bf16_or_fp16_with_loss_scaling(monkeypatch, name, major, expected):
    """An A100 gets bf16; Colab's T4 gets fp16, which accelerate runs with a loss scaler, although
    torch's own ``is_bf16_supported()`` says yes there (it can emulate bf16). Torch's check runs
    for real; only the device it asks about is made up."""
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda *a, **k: SimpleNamespace(major=major))
    monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda *a, **k: True)  # emulation works
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: name)
    assert torch.cuda.is_bf16_supported()  # what the T4 answers by default: the trap
    precision, why = resolve_mixed_precision("auto")
    assert precision == expected
    assert ("loss scaling" in why) == (expected == "fp16") and ("T4" in why) == (expected == "fp16")


def test_the_precision_choice_is_printed(capsys):
    model, stream = _fresh()
    Trainer(model, stream, replace(CONFIG, mixed_precision="no", progress=True, grad_accum=2))
    out = capsys.readouterr().out
    assert "mixed precision: no (as configured); batch 4 x 2 accumulated = 8 per step" in out


# Trains CONFIG's steps with the global batch split over the launched processes, as under
# `torch.distributed.run`; the main process saves the run to argv[1].
DATA_PARALLEL_RUN = """
import os
import sys
import torch
from vlmkit.train.profiles import new_model
from vlmkit.train.streams import curriculum_stream
from vlmkit.train.trainer import TrainConfig, Trainer
torch.manual_seed(0)
model = new_model("tiny", **{micro})
stream = curriculum_stream("ground", model.codec, single_object_examples=8)
processes = int(os.environ.get("WORLD_SIZE", "1"))
config = TrainConfig(steps=6, batch_size=4 // processes, lr=3e-3, warmup_steps=2, log_every=1, progress=False, seed=0,
                     mixed_precision="no")
trainer = Trainer(model, stream, config, output_dir=sys.argv[1], evaluate=lambda m: {{"evaluated": 1.0}})
trainer.train()
"""


def test_two_processes_splitting_each_batch_train_like_one_process(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(DATA_PARALLEL_RUN.format(micro=MICRO))
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(script), str(tmp_path / "one")], env=env, check=True)
    launched = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                               str(script), str(tmp_path / "two")], env=env, capture_output=True, text=True)
    assert launched.returncode == 0, launched.stderr[-3000:]

    one, two = load_model(tmp_path / "one").state_dict(), load_model(tmp_path / "two").state_dict()
    start, _ = _fresh()
    moved = False
    for name, weights in one.items():
        assert torch.allclose(weights, two[name], atol=1e-5), name  # same examples, averaged gradients
        moved |= not torch.allclose(weights, start.state_dict()[name])
    assert moved  # and training did change the weights
    history = (tmp_path / "two" / "history.json").read_text()
    assert history.count('"evaluated"') == 1  # the main process alone evaluates


def test_processes_accelerate_does_not_connect_are_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # launched as two, but this process's accelerate sees one
    model, stream = _fresh()
    with pytest.raises(RuntimeError, match="ACCELERATE_USE_CPU=true"):
        Trainer(model, stream, CONFIG)


def test_a_stage_saved_by_its_trainer_is_not_written_twice(tmp_path, monkeypatch):
    from vlmkit.train import stages
    from vlmkit.train.recipes import CaptionRecipe

    monkeypatch.setenv("VLMKIT_CHECKPOINT_DIR", str(tmp_path))
    model, stream = _fresh()
    recipe = CaptionRecipe(steps=3, batch_size=4)
    trainer = stages.stage_trainer("01_captioning", model, stream, recipe)
    trainer.train()
    folder = stages.stage_dir("01_captioning", recipe)  # not the series' recipe: a scratch folder
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert stages.save_stage(model, "01_captioning", trainer) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == written
    trainer.train(until_step=3)  # nothing new; a save elsewhere still writes
    assert stages.save_stage(model, "02_grounding", trainer) == tmp_path / "02_grounding"
    assert (tmp_path / "02_grounding" / "model.safetensors").is_file()


def test_decay_steps_hold_the_rate_until_the_last_steps_then_decay_it():
    model, stream = _fresh()
    cosine = Trainer(model, stream, replace(CONFIG, steps=20, warmup_steps=2)).scheduler
    wsd = Trainer(model, stream, replace(CONFIG, steps=20, warmup_steps=2, decay_steps=5)).scheduler
    rates = {}
    for name, scheduler in (("cosine", cosine), ("wsd", wsd)):
        rates[name] = []
        for _ in range(20):
            rates[name].append(scheduler.get_last_lr()[0] / CONFIG.lr)
            scheduler.optimizer.step()
            scheduler.step()
    assert rates["wsd"][2:15] == [1.0] * 13  # warm-up over, full rate until the decay begins
    assert all(a > b for a, b in zip(rates["wsd"][15:], rates["wsd"][16:]))  # then falling every step
    assert rates["wsd"][19] < 0.2 and rates["cosine"][19] < 0.2  # both near 0 at the last step
    assert rates["cosine"][10] < 0.6 < rates["wsd"][10]  # halfway, cosine has halved the rate already


def test_decay_steps_that_do_not_fit_the_run_are_refused():
    model, stream = _fresh()
    with pytest.raises(ValueError, match=r"warmup_steps \(2\) \+ decay_steps \(5\) exceed steps \(6\)"):
        Trainer(model, stream, replace(CONFIG, decay_steps=5))
    # a recipe shortened to a smoke run fits its decay into what warm-up leaves
    config = GroundRecipe(steps=20, decay_steps=1200, warmup_steps=50).train_config()
    assert (config.warmup_steps, config.decay_steps) == (4, 16)


def test_a_run_saved_before_a_field_existed_resumes_at_that_fields_default():
    saved = {k: v for k, v in vars(CONFIG).items() if k != "decay_steps"}  # as an older vlmkit wrote it
    assert trainer_module.changed_fields(saved, CONFIG) == {}
    assert trainer_module.changed_fields(saved, replace(CONFIG, decay_steps=3)) == {"decay_steps": (0, 3)}
