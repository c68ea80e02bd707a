"""Does the tiny profile really learn grounding? Captioning, then grounding, scored along the way.

Does the tiny profile really learn grounding? Train captioning, then grounding from that
checkpoint, on 2 CPU threads, and print Acc@0.5 on held-out 2-4 object scenes against
training time (evaluation time excluded). "colour" is Acc@0.5 on the colour-only expressions
of those scenes ("the red shape"): whether the model has bound colour words, which decides
how far a run gets (docs/experiments/binding.md#colour-binding).

    python benchmarks/learning_benchmark.py                       # the tiny recipes of vlmkit.train.recipes
    python benchmarks/learning_benchmark.py --set steps=8000 --config lm_heads=4   # a variant
    python benchmarks/learning_benchmark.py --caption-checkpoint RUN/caption     # ground a captioner of an earlier run
    python benchmarks/learning_benchmark.py --caption-set steps=1000 decay_steps=200   # notebook 01 half as long
    python benchmarks/learning_benchmark.py --mixed-precision no --weight-noise 0.003  # fp32, weights jittered

``--weight-noise S`` asks whether noise alone does what bf16's rounding does to fp32 training
(docs/experiments/arithmetic.md): every step, each weight of every linear layer and convolution
is multiplied by 1 + S x N(0, 1) for that step's forward and backward pass (the gradient taken
at the jittered weights, the update applied to the plain ones).

The recipe comes from :mod:`vlmkit.train.recipes` (``--set``/``--caption-set`` change its fields,
checked against them) and the model from the tiny config (``--config``). About 20 minutes of
training on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from vlmkit.data.shapeworld import ShapeWorld
from vlmkit.evaluation.evaluate import evaluate_captioning, evaluate_grounding
from vlmkit.storage.checkpoint import load_model, load_training_state
from vlmkit.train.profiles import load_profile, new_model
from vlmkit.train.recipes import parse_assignments, recipe_for
from vlmkit.train.streams import colour_only, curriculum_stream, multi_object_world, shapeworld_stream
from vlmkit.train.trainer import PRECISIONS, Trainer


class WeightNoise(TorchFunctionMode):
    """Within this context each linear layer's or convolution's weight is multiplied by 1 + sigma x
    N(0, 1), drawn once per weight per context (a training step's forward pass)."""

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma, self.factors = sigma, {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (F.linear, F.conv2d) and len(args) > 1 and isinstance(args[1], torch.nn.Parameter):
            weight = args[1]
            if id(weight) not in self.factors:
                self.factors[id(weight)] = 1 + self.sigma * torch.randn_like(weight)
            args = (args[0], weight * self.factors[id(weight)], *args[2:])
        return func(*args, **kwargs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="grounding recipe fields (vlmkit.train.recipes.GroundRecipe), e.g. steps=8000 first_token_steps=0")
    p.add_argument("--caption-set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="captioning recipe fields (vlmkit.train.recipes.CaptionRecipe), e.g. steps=200")
    p.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                   help="model config fields (vlmkit.model.VLMConfig), e.g. vit_layers=4 lm_heads=4")
    p.add_argument("--caption-checkpoint", type=Path,
                   help="ground this captioning checkpoint (an earlier run's OUT/caption) instead of training one: "
                        "its captions are scored once, --caption-set and --config do not apply")
    p.add_argument("--single-fraction", type=float, default=0.0, help="share of grounding steps on 1-object scenes")
    p.add_argument("--colour-pairs", action=argparse.BooleanOptionalAction, default=True,
                   help="every attribute-pair expression names a colour (--no-colour-pairs: the shortest ones)")
    p.add_argument("--pair-every", type=int, default=0,
                   help="after the pair stage, every n-th grounding scene is still a pair (0: none)")
    p.add_argument("--mixed-precision", choices=("auto", *PRECISIONS), default="auto",
                   help="'auto': as vlmkit.train.trainer.resolve_mixed_precision chooses here; 'no': plain fp32; "
                        "'fp16-rounded': a T4's fp16 (rounding and loss scaling) on a CPU")
    p.add_argument("--weight-noise", type=float, default=0.0, metavar="S",
                   help="fp32 only: jitter every linear/conv weight by a relative N(0, S) each step (see above)")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--caption-eval-every", type=int, default=0,
                   help="score captions (object F1, BLEU-4) on 100 held-out scenes every n captioning steps "
                        "(0: at the end only)")
    p.add_argument("--seed", type=int, default=0,
                   help="weights and training data (the held-out scenes stay the same): for run-to-run spread")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("outputs/learning_benchmark"))
    args = p.parse_args()
    if args.caption_checkpoint and (args.caption_set or args.config):
        p.error("--caption-checkpoint grounds a trained captioner: --caption-set and --config would not apply to it")
    if args.weight_noise and args.mixed_precision != "no":
        p.error(f"--weight-noise is a stand-in for an arithmetic's rounding: train in fp32 (--mixed-precision no), "
                f"not {args.mixed_precision}")
    precision = {"mixed_precision": args.mixed_precision}
    recipe = recipe_for("02_grounding", "tiny", **{**precision, **parse_assignments(args.set)})
    caption_recipe = recipe_for("01_captioning", "tiny", **{**precision, **parse_assignments(args.caption_set)})
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    model = (load_model(args.caption_checkpoint) if args.caption_checkpoint
             else new_model("tiny", **parse_assignments(args.config)))
    print(f"recipe: {recipe}")
    if not args.caption_checkpoint:
        print(f"caption recipe: {caption_recipe}")
    print(f"parameters: {model.num_parameters()}; image tokens: {model.num_image_tokens}")

    def jitter(trainer: Trainer) -> None:
        if args.weight_noise:  # the context the Trainer enters around each step's forward pass
            trainer.rounding = lambda: WeightNoise(args.weight_noise)

    eval_rows = list(multi_object_world().dataset("val", recipe.eval_size, progress=False))
    colour_rows = colour_only(eval_rows)
    colour_queries = sum(len(row["expressions"]) for row in colour_rows)
    curve, caption_seconds = [], 0.0

    def evaluate(m):
        metrics = evaluate_grounding(m, eval_rows, progress=False).metrics
        metrics["colour_only"] = evaluate_grounding(m, colour_rows, per_row=None, progress=False).metrics["acc@0.5"]
        minutes = (caption_seconds + ground.train_seconds) / 60
        curve.append({"train_minutes": minutes, "step": ground.step, **metrics})
        print(f"{minutes:9.1f} | {ground.step:5d} | {metrics['acc@0.5']:7.3f} | {metrics['acc@0.75']:8.3f} | "
              f"{metrics['mean_iou']:5.3f} | {metrics['parse_rate']:5.3f} | {metrics['colour_only']:6.3f}", flush=True)
        return metrics

    caption_rows = load_profile("tiny", announce=False).evaluation_rows("caption", "val", count=100)
    caption_curve = []

    def evaluate_captions(m, step):
        metrics = evaluate_captioning(m, caption_rows, progress=False).metrics
        caption_curve.append({"step": step, **metrics})
        print(f"  caption step {step:5d}: object F1 {metrics['object_f1']:.3f}, exact {metrics['exact']:.3f}, "
              f"BLEU-4 {metrics['bleu4']:.3f}", flush=True)
        return metrics

    start = time.perf_counter()
    if args.caption_checkpoint:
        steps = load_training_state(args.caption_checkpoint)["step"]
        evaluate_captions(model, steps)
        print(f"captioning: {steps} steps, trained earlier ({args.caption_checkpoint})")
    else:
        caption = Trainer(model, shapeworld_stream("caption", model.codec, ShapeWorld(seed=args.seed), seed=args.seed),
                          caption_recipe.train_config(progress=False, seed=args.seed,
                                                      eval_every=args.caption_eval_every or caption_recipe.steps),
                          output_dir=args.out / "caption", evaluate=lambda m: evaluate_captions(m, caption.step))
        jitter(caption)
        caption.train()
        caption_seconds = caption.train_seconds
        print(f"captioning: {caption_recipe.steps} steps in {caption_seconds / 60:.1f} min, "
              f"final loss {[h for h in caption.history if 'loss' in h][-1]['loss']:.3f}")

    single = int(args.single_fraction * recipe.steps * recipe.batch_size)
    first_token_steps = (single // recipe.batch_size + recipe.first_token_steps) if recipe.first_token_steps else 0
    stream = curriculum_stream("ground", model.codec, multi_object_world(args.seed), single_object_examples=single,
                               attribute_pair_examples=recipe.attribute_pair_steps * recipe.batch_size,
                               examples_per_scene=recipe.examples_per_scene, seed=args.seed,
                               colour_pairs=args.colour_pairs, pair_every=args.pair_every, scenes=recipe.scenes)
    ground = Trainer(model, stream, recipe.train_config(eval_every=args.eval_every, progress=False,
                                                        first_token_steps=first_token_steps, seed=args.seed),
                     output_dir=args.out / "ground", evaluate=evaluate)
    jitter(ground)
    print(f"{'train min':>9} | {'step':>5} | {'Acc@0.5':>7} | {'Acc@0.75':>8} | {'mIoU':>5} | {'parse':>5} | colour "
          f"({colour_queries} queries)")
    ground.train()

    final = evaluate_grounding(model, eval_rows, per_row=None, progress=False)
    print("final, every expression of every held-out object:", json.dumps(final.metrics))
    for kind, m in final.by_kind.items():
        print(f"  {kind:>9}: Acc@0.5 {m['acc@0.5']:.3f} (n={m['n']})")
    print(f'  colour only ("the red shape"): Acc@0.5 {curve[-1]["colour_only"]:.3f} (n={colour_queries})')
    print(f"wall time {(time.perf_counter() - start) / 60:.1f} min (training + evaluation)")
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "curve": curve, "final": final.metrics,
               "by_kind": final.by_kind, "caption_minutes": caption_seconds / 60,
               "caption_curve": caption_curve}
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot([c["train_minutes"] for c in curve], [c["acc@0.5"] for c in curve], "o-", label="Acc@0.5")
    ax.plot([c["train_minutes"] for c in curve], [c["acc@0.75"] for c in curve], "s--", label="Acc@0.75")
    ax.plot([c["train_minutes"] for c in curve], [c["colour_only"] for c in curve], "^:",
            label='Acc@0.5, colour only ("the red shape")')
    ax.axvline(caption_seconds / 60, color="grey", linestyle=":", label="captioning ends")
    ax.axhline(0.9, color="tab:red", linewidth=0.8, label="target: Acc@0.5 0.90 within 20 min")
    ax.axvline(20, color="tab:red", linewidth=0.8)
    ax.set(xlabel="training minutes (2 CPU threads)", ylabel="held-out 2-4 object scenes", ylim=(0, 1),
           title="Tiny MiniVLM learning ShapeWorld grounding")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "curve.png", dpi=120)
    print(f"curve written to {args.out / 'curve.png'}")


if __name__ == "__main__":
    main()
