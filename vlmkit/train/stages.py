"""The notebooks' handover: each stage starts from the previous stage's checkpoint.

:func:`previous_stage` loads it, or — when it is missing — says so and trains a short
stand-in, so any notebook runs on its own. :func:`record_results` writes a stage's
headline metrics next to its checkpoint, where ``make demo`` collects them.

Where a stage saves depends on its recipe (:func:`stage_dir`): the series' recipe in
``checkpoints/NAME``, the quick one in ``checkpoints/quick/NAME``, any other (an exercise's
``overrides``) in ``checkpoints/scratch/``, so an experiment never replaces the checkpoint the
next notebook resumes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

from vlmkit.evaluation.evaluate import evaluate_box_head, evaluate_grounding, evaluate_segmentation, evaluate_task
from vlmkit.model import MiniVLM
from vlmkit.storage.checkpoint import CheckpointError, load_model, save_checkpoint
from vlmkit.text.codecs import Codec
from vlmkit.text.tasks import TASK_NEEDS, MixtureStream, Stream, usable_rows
from vlmkit.text.tokenizer import readable_rows
from vlmkit.train.profiles import Profile, checkpoint_root, load_profile
from vlmkit.train.recipes import STAGES, GroundRecipe, Recipe, SegmentRecipe, recipe_changes
from vlmkit.train.streams import stored_stream
from vlmkit.train.trainer import Trainer

RESULTS_FILE = "results.json"
QUICK_DIR, SCRATCH_DIR = "quick", "scratch"


def stage_dir(name: str, recipe: Recipe | None = None, quick: bool = False) -> Path:
    """Where stage ``name`` keeps its checkpoint when trained with ``recipe`` (default: the
    series' recipe, the quick one with ``quick``); see the module doc."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; stages are {STAGES}")
    changes = {}
    if recipe is not None:
        quick, changes = recipe_changes(name, recipe)
    if changes:
        return checkpoint_root() / SCRATCH_DIR / f"{name}-{_slug(changes, quick)}"
    return checkpoint_root() / QUICK_DIR / name if quick else checkpoint_root() / name


def _slug(changes: dict, quick: bool) -> str:
    """A folder name that says what changed (``steps=100``), hashed where it would be long."""
    text = ",".join(["quick"] * quick + [f"{k}={json.dumps(v, sort_keys=True, default=str)}" for k, v in
                                         sorted(changes.items())])
    text = re.sub(r"[^A-Za-z0-9=.,_-]+", "_", text)
    return text if len(text) <= 60 else f"{text[:50]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def _folder_of(name: str, trainer: Trainer | None) -> Path:
    """The folder of stage ``name`` that ``trainer`` trained into, else the series' folder."""
    folder = trainer.output_dir if trainer is not None else None
    if folder is not None and (folder.name == name or folder.name.startswith(f"{name}-")):
        return folder
    return stage_dir(name)


def previous_stage(name: str, stand_in: Callable[[], MiniVLM], quick: bool = False) -> MiniVLM:
    """The model saved by stage ``name`` (by its quick recipe with ``quick``); if there is none,
    ``stand_in()`` with a message."""
    path = stage_dir(name, quick=quick)
    try:
        model = load_model(path)
    except CheckpointError as err:
        print(f"Could not resume from stage {name}: {err}.\n"
              f"Training a short stand-in instead so this notebook runs on its own; run notebook "
              f"{name} first for the real starting point.")
        return stand_in()
    print(f"Resumed from {path} ({model.num_parameters()['total']:,} parameters)")
    return model


def short_captioning_model(profile: str | Profile = "tiny", **config_overrides) -> MiniVLM:
    """A fresh model trained on the quick captioning recipe (a quarter of its steps and decay):
    the stand-in for a missing stage 01."""
    profile = load_profile(profile, announce=False)
    recipe = profile.recipe("01_captioning", quick=True)
    model = profile.new_model(**config_overrides)
    Trainer(model, profile.training_stream("caption", model.codec, recipe), recipe.train_config()).train()
    return model


def stage_trainer(name: str, model: MiniVLM, stream, recipe: Recipe, evaluate=None) -> Trainer:
    """The Trainer of stage ``name`` with ``recipe``'s settings. It saves to the stage's
    checkpoint every 5% of its steps, and when the notebook cell runs again after a kernel
    restart it continues the interrupted run from its last save instead of starting over
    (:meth:`Trainer.resume_if_saved`)."""
    config = recipe.train_config(save_every=max(recipe.steps // 20, 25))
    folder = stage_dir(name, recipe)
    if folder.parent.name == SCRATCH_DIR:
        print(f"This recipe is not the series' ({folder.name.removeprefix(name + '-')}): it trains into {folder}, "
              f"and the checkpoint the next notebook resumes stays as it is.")
    trainer = Trainer(model, stream, config, output_dir=folder, evaluate=evaluate)
    trainer.resume_if_saved()
    return trainer


def save_stage(model: MiniVLM, name: str, trainer: Trainer | None = None) -> Path:
    """Save the stage's checkpoint (with the trainer's state and history when given), into the
    folder its trainer trained into (:func:`stage_dir`)."""
    folder = _folder_of(name, trainer)
    if trainer is not None:
        if trainer.saved == (folder, trainer.step):
            return folder  # the stage's trainer saved exactly this at its last step
        return trainer.save(folder)
    return save_checkpoint(model, folder)


def record_results(name: str, metrics: dict, trainer: Trainer | None = None, **extra) -> dict:
    """Write the stage's headline metrics (and, given its ``trainer``, its steps and training
    minutes) to ``results.json`` beside its checkpoint, and return them."""
    if trainer is not None:
        extra = {"train_steps": trainer.step, "train_minutes": round(trainer.train_seconds / 60, 2), **extra}
    record = {"stage": name, "metrics": metrics, **extra}
    path = _folder_of(name, trainer)
    path.mkdir(parents=True, exist_ok=True)
    (path / RESULTS_FILE).write_text(json.dumps(record, indent=1, default=float))
    return record


def recorded_results(name: str, quick: bool = False) -> dict | None:
    """What :func:`record_results` wrote for the series' stage ``name`` (the quick recipe's
    with ``quick``), or None where that stage has recorded nothing."""
    path = stage_dir(name, quick=quick) / RESULTS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def compare_codecs(model: MiniVLM, formats: tuple[str, ...], eval_rows: list[dict], profile: Profile,
                   recipe: GroundRecipe, box_head: bool = True) -> dict[str, dict]:
    """Train a copy of ``model`` for ``recipe.codec_steps`` grounding steps on one-object
    scenes in each codec format and score it, unconstrained (only ``loc`` could be
    constrained, and that would not be fair). Every format trains on plain cross-entropy
    (soft location targets exist only for ``loc``), so the format is the one difference.
    With ``box_head``, one more copy answers with numbers instead of text: a regression head
    trained with L1 + GIoU for as many steps (:mod:`vlmkit.model.box_head`), as ``"box head"``."""
    steps = recipe.codec_steps
    short = recipe.with_overrides({"steps": steps, "evaluations": 0, "first_token_steps": 0, "attribute_pair_steps": 0,
                                   "examples_per_scene": 1})
    results = {}
    for fmt in formats:
        candidate = MiniVLM(replace(model.config, codec_format=fmt, codec_label_sigma=0.0), model.tokenizer)
        candidate.load_state_dict(model.state_dict())
        stream = profile.training_stream("ground", candidate.codec, short,
                                         single_object_examples=steps * recipe.batch_size)
        trainer = Trainer(candidate, stream, short.train_config())
        trainer.train()
        scored = evaluate_grounding(candidate, eval_rows, constrained=False, progress=False)
        answer_tokens = len(candidate.tokenizer(stream[0].answer, add_special_tokens=False)["input_ids"])
        results[fmt] = scored.metrics | {"answer_tokens": answer_tokens, "minutes": trainer.train_seconds / 60}
    if box_head:
        candidate = MiniVLM(replace(model.config, box_head=True), model.tokenizer)
        candidate.load_state_dict(model.state_dict(), strict=False)  # all but the new head
        stream = profile.training_stream("ground", candidate.codec, short, single_object_examples=steps * recipe.batch_size)
        trainer = Trainer(candidate, stream, short.train_config(objective="box"))
        trainer.train()
        results["box head"] = evaluate_box_head(candidate, eval_rows).metrics | {
            "answer_tokens": 0, "minutes": trainer.train_seconds / 60}
    return results


def train_without_curriculum(model: MiniVLM, profile: Profile, recipe: GroundRecipe) -> MiniVLM:
    """A copy of ``model`` (notebook 01's captioner) trained for ``recipe.plain_steps`` grounding
    steps with none of the curriculum: the whole box from the first step, 2-4 objects and every
    kind of expression from the start, one question a scene (of ``recipe.plain_scenes`` reused).
    What the curriculum prevents shows in its :func:`vlmkit.evaluation.evaluate.object_hits`."""
    plain = recipe.with_overrides({"steps": recipe.plain_steps, "evaluations": 0, "first_token_steps": 0,
                                   "attribute_pair_steps": 0, "examples_per_scene": 1, "scenes": recipe.plain_scenes})
    candidate = model.copy()
    Trainer(candidate, profile.training_stream("ground", candidate.codec, plain), plain.train_config()).train()
    return candidate


def compare_outline_answers(model: MiniVLM, eval_rows: list[dict], profile: Profile,
                            recipe: SegmentRecipe) -> dict[str, dict]:
    """Train a copy of ``model`` for ``recipe.compare_steps`` steps on each answer form of an
    outline, the outline alone (``segment``) and the box then the outline
    (``locate_segment``), with ``recipe``'s other settings, and score each on ``eval_rows``:
    the same start, data and steps, so the answer form is the one difference. Each is also
    asked ``locate:`` on the same rows (``locate acc@0.5``): what training on outlines left of
    the grounding the start had."""
    short = recipe.with_overrides({"steps": recipe.compare_steps, "evaluations": 0})
    results = {}
    for task, label in (("segment", "outline alone"), ("locate_segment", "box, then outline")):
        candidate = model.copy()
        stream = profile.training_stream(task, candidate.codec, short)
        trainer = Trainer(candidate, stream, short.train_config())
        trainer.train()
        scored = evaluate_segmentation(candidate, eval_rows, progress=False, task=task)
        located = evaluate_grounding(candidate, eval_rows, progress=False)
        answer_tokens = len(candidate.tokenizer(stream[0].answer, add_special_tokens=False)["input_ids"])
        results[label] = scored.metrics | {"locate acc@0.5": located.metrics["acc@0.5"], "answer_tokens": answer_tokens,
                                           "minutes": trainer.train_seconds / 60}
    return results


def stage_stream(profile: Profile, recipe: Recipe, codec: Codec, seed: int = 0) -> Stream:
    """The training examples a stage trains on with ``recipe``: its one task's stream, or for
    notebook 04 the mixture of its tasks, each reusing ``recipe.scenes`` scenes. The notebooks
    train on seed 0; the benchmarks and the cycle's arms draw other seeds of the same stream."""
    tasks = recipe.tasks()
    if len(tasks) > 1:
        return profile.mixture_stream(recipe.task_weights, codec, seed=seed, scenes=recipe.scenes)
    return profile.training_stream(tasks[0], codec, recipe, seed=seed)


def your_data_stream(model: MiniVLM, recipe: Recipe, rows: Sequence[dict], seed: int = 0) -> Stream:
    """Training examples of ``recipe``'s tasks from stored ``rows`` (a file of your own,
    :func:`vlmkit.data.jsonl.read_jsonl`): each task from the rows that can serve it, drawn by
    the recipe's ``task_weights`` where it has them. Every expression and caption must be
    readable by ``model`` (:func:`vlmkit.text.tokenizer.readable_rows`); a task no row can
    serve raises ``ValueError`` naming what it needs."""
    rows = readable_rows(model.tokenizer, list(rows))
    weights = getattr(recipe, "task_weights", {task: 1.0 for task in recipe.tasks()})
    max_vertices = recipe.stream_arguments()["max_vertices"]
    streams = []
    for k, task in enumerate(weights):
        task_rows = usable_rows(rows, task)
        if not task_rows:
            raise ValueError(f"no row can train {task!r}: it needs {TASK_NEEDS[task]}; give rows that have them or "
                             f"leave the task out (task_weights)")
        streams.append(stored_stream(task_rows, task, model.codec, seed=seed + k, max_vertices=max_vertices))
    return streams[0] if len(streams) == 1 else MixtureStream(streams, list(weights.values()), seed=seed)


PREVIOUS_STAGE = {"02_grounding": "01_captioning", "03_segmentation": "02_grounding", "04_combined": "03_segmentation",
                  "05_your_data": "04_combined"}


def train_stage(stage: str, profile: Profile, recipe: Recipe, start: MiniVLM | None = None,
                data: Sequence[dict] | None = None, held_out: Sequence[dict] = ()) -> dict:
    """Train ``stage`` as its notebook does, without the notebook's side experiments and
    figures (``vlmkit train``): start from ``start`` (default: the previous stage's
    checkpoint, or a stand-in if there is none), train with ``recipe`` (saved every 5% and
    resumable), score on ``recipe.eval_size`` held-out rows, save the checkpoint and record
    the results. Returns the recorded results.

    ``data``: rows of your own to train on instead of the profile's (:func:`your_data_stream`),
    scored on ``held_out``, rows of your own too (none: no score). Stage ``05_your_data``
    trains on nothing else."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {STAGES}")
    if data is None and stage == "05_your_data":
        raise ValueError("stage 05_your_data fine-tunes on data of your own: give it rows (vlmkit train "
                         "05_your_data --data FILE.jsonl; docs/data.md)")
    if start is not None:
        model = start
    elif stage in PREVIOUS_STAGE:
        model = previous_stage(PREVIOUS_STAGE[stage], stand_in=lambda: short_captioning_model(profile),
                               quick=recipe_changes(stage, recipe)[0])
    else:
        model = profile.new_model()
    tasks = recipe.tasks()
    if data is None:
        stream = stage_stream(profile, recipe, model.codec)
        final = {task: profile.evaluation_rows(task, "val", count=recipe.eval_size) for task in tasks}
        probe = {task: profile.evaluation_rows(task, "val", count=min(recipe.eval_size, 100)) for task in tasks}
    else:
        stream = your_data_stream(model, recipe, data)
        held_out = readable_rows(model.tokenizer, list(held_out))
        final = {task: usable_rows(held_out, task)[:recipe.eval_size] for task in tasks}
        final = {task: rows for task, rows in final.items() if rows}
        if len(final) < len(tasks):
            print(f"no held-out rows for {sorted(set(tasks) - set(final))}: not scored (give held-out rows with "
                  f"{', '.join(TASK_NEEDS[t] for t in tasks if t not in final)})")
        probe = {task: rows[:100] for task, rows in final.items()}
    trainer = stage_trainer(stage, model, stream, recipe, evaluate=(lambda m: {
        f"{task}/{k}" if len(tasks) > 1 else k: v for task in probe
        for k, v in evaluate_task(m, task, probe[task], progress=False).items()}) if probe else None)
    trainer.train()
    metrics = {task: evaluate_task(model, task, rows) for task, rows in final.items()}
    save_stage(model, stage, trainer)
    headline = metrics[tasks[0]] if len(tasks) == 1 and metrics else \
        {f"{t}/{k}": v for t, m in metrics.items() for k, v in m.items()}
    return record_results(stage, headline, trainer)
