"""Does the tiny profile really learn grounding? Train captioning, then grounding from that
checkpoint, on 2 CPU threads, and print Acc@0.5 on held-out 2-4 object scenes against
training time (evaluation time excluded). "colour" is Acc@0.5 on the colour-only expressions
of those scenes ("the red shape"): whether the model has bound colour words, which decides
how far a run gets (README, results).

    python scripts/learning_benchmark.py                 # the default recipe (22 min on our slower machine)
    python scripts/learning_benchmark.py --help          # every knob of the recipe
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from vlmkit.evaluate import evaluate_grounding
from vlmkit.profiles import new_model
from vlmkit.recipes import colour_only, curriculum_stream, multi_object_world, shapeworld_stream
from vlmkit.shapeworld import ShapeWorld
from vlmkit.trainer import TrainConfig, Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--caption-steps", type=int, default=400)
    p.add_argument("--ground-steps", type=int, default=9500)
    p.add_argument("--single-fraction", type=float, default=0.0, help="share of grounding steps on 1-object scenes")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--pixel-shuffle", type=int, default=2)
    p.add_argument("--vit-layers", type=int, default=None, help="vision encoder layers (default: the tiny config's)")
    p.add_argument("--lm-layers", type=int, default=None, help="language-model layers (default: the tiny config's)")
    p.add_argument("--lm-heads", type=int, default=None, help="language-model attention heads (default: the tiny config's)")
    p.add_argument("--projector-layers", type=int, default=None,
                   help="1: linear (needs --no-projector-skip), 2: MLP (default: the tiny config's)")
    p.add_argument("--projector-skip", action=argparse.BooleanOptionalAction, default=None,
                   help="add a linear path to the projector MLP (default: the tiny config's)")
    p.add_argument("--projector-hidden", type=int, default=None, help="the projector MLP's width (default: the LM's)")
    p.add_argument("--projector-norm", action=argparse.BooleanOptionalAction, default=None,
                   help="RMS-normalise the image tokens (default: the tiny config's)")
    p.add_argument("--conv-stem", type=int, default=32, help="channels of the 3x3 conv stem (0: none)")
    p.add_argument("--image-after-prompt", action=argparse.BooleanOptionalAction, default=None,
                   help="image tokens after the prompt (default: the tiny config's layout)")
    p.add_argument("--label-sigma", type=float, default=None,
                   help="std (bins) of the soft location targets; 0: plain cross-entropy (default: the tiny config's)")
    p.add_argument("--attribute-pair-steps", type=int, default=1500,
                   help="grounding steps (after the one-object ones) on two-object scenes, attribute expressions only")
    p.add_argument("--colour-pairs", action=argparse.BooleanOptionalAction, default=True,
                   help="every attribute-pair expression names a colour (--no-colour-pairs: the shortest ones)")
    p.add_argument("--pair-every", type=int, default=0,
                   help="after the pair stage, every n-th grounding scene is still a pair (0: none)")
    p.add_argument("--first-token-steps", type=int, default=1000,
                   help="grounding steps (after the one-object ones) that train x1 alone, then the whole box")
    p.add_argument("--examples-per-scene", type=int, default=2,
                   help="consecutive grounding examples about different objects of one scene")
    p.add_argument("--vision-lr-scale", type=float, default=1.0,
                   help="the vision encoder's learning rate during grounding, as a share of --lr")
    p.add_argument("--mixed-precision", choices=("auto", "no", "bf16"), default="auto",
                   help="'auto': bf16 on a GPU or CPU that has bf16 (AVX512-BF16/AMX), else fp32 ('no')")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-scenes", type=int, default=300)
    p.add_argument("--seed", type=int, default=0,
                   help="weights and training data (the held-out scenes stay the same): for run-to-run spread")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path("outputs/learning_benchmark"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    overrides = {} if args.image_after_prompt is None else {"image_after_prompt": args.image_after_prompt}
    if args.projector_norm is not None:
        overrides["mp_output_norm"] = args.projector_norm
    if args.projector_layers is not None:
        overrides["mp_layers"] = args.projector_layers
    if args.projector_skip is not None:
        overrides["mp_skip"] = args.projector_skip
    if args.projector_hidden is not None:
        overrides["mp_hidden"] = args.projector_hidden
    if args.vit_layers is not None:
        overrides["vit_layers"] = args.vit_layers
    if args.lm_layers is not None:
        overrides["lm_layers"] = args.lm_layers
    if args.lm_heads is not None:
        overrides["lm_heads"] = args.lm_heads
    if args.label_sigma is not None:
        overrides["codec_label_sigma"] = args.label_sigma
    model = new_model("tiny", vit_patch_size=args.patch, mp_pixel_shuffle=args.pixel_shuffle,
                      vit_conv_stem=args.conv_stem, **overrides)
    print(f"parameters: {model.num_parameters()}; image tokens: {model.num_image_tokens}")
    eval_rows = list(multi_object_world().dataset("val", args.eval_scenes, progress=False))
    colour_rows = colour_only(eval_rows)
    colour_queries = sum(len(row["expressions"]) for row in colour_rows)
    curve, caption_seconds = [], 0.0

    def evaluate(m):
        metrics = evaluate_grounding(m, eval_rows, progress=False)["metrics"]
        metrics["colour_only"] = evaluate_grounding(m, colour_rows, per_row=None, progress=False)["metrics"]["acc@0.5"]
        minutes = (caption_seconds + ground.train_seconds) / 60
        curve.append({"train_minutes": minutes, "step": ground.step, **metrics})
        print(f"{minutes:9.1f} | {ground.step:5d} | {metrics['acc@0.5']:7.3f} | {metrics['acc@0.75']:8.3f} | "
              f"{metrics['mean_iou']:5.3f} | {metrics['parse_rate']:5.3f} | {metrics['colour_only']:6.3f}", flush=True)
        return metrics

    start = time.perf_counter()
    caption = Trainer(model, shapeworld_stream("caption", model.codec, ShapeWorld(seed=args.seed), seed=args.seed),
                      TrainConfig(steps=args.caption_steps, batch_size=args.batch_size, lr=args.lr, progress=False,
                                  seed=args.seed, mixed_precision=args.mixed_precision),
                      output_dir=args.out / "caption")
    caption.train()
    caption_seconds = caption.train_seconds
    print(f"captioning: {args.caption_steps} steps in {caption_seconds / 60:.1f} min, "
          f"final loss {caption.history[-1]['loss']:.3f}")

    single = int(args.single_fraction * args.ground_steps * args.batch_size)
    first_token_steps = (single // args.batch_size + args.first_token_steps) if args.first_token_steps else 0
    stream = curriculum_stream("ground", model.codec, multi_object_world(args.seed), single_object_examples=single,
                               attribute_pair_examples=args.attribute_pair_steps * args.batch_size,
                               examples_per_scene=args.examples_per_scene, seed=args.seed,
                               colour_pairs=args.colour_pairs, pair_every=args.pair_every)
    ground = Trainer(model, stream, TrainConfig(steps=args.ground_steps, batch_size=args.batch_size, lr=args.lr,
                                                eval_every=args.eval_every, progress=False,
                                                first_token_steps=first_token_steps, seed=args.seed,
                                                vision_lr_scale=args.vision_lr_scale,
                                                mixed_precision=args.mixed_precision),
                     output_dir=args.out / "ground", evaluate=evaluate)
    print(f"{'train min':>9} | {'step':>5} | {'Acc@0.5':>7} | {'Acc@0.75':>8} | {'mIoU':>5} | {'parse':>5} | colour "
          f"({colour_queries} queries)")
    ground.train()

    final = evaluate_grounding(model, eval_rows, per_row=None, progress=False)
    print("final, every expression of every held-out object:", json.dumps(final["metrics"]))
    for kind, m in final["by_kind"].items():
        print(f"  {kind:>9}: Acc@0.5 {m['acc@0.5']:.3f} (n={m['n']})")
    print(f'  colour only ("the red shape"): Acc@0.5 {curve[-1]["colour_only"]:.3f} (n={colour_queries})')
    print(f"wall time {(time.perf_counter() - start) / 60:.1f} min (training + evaluation)")
    summary = {"args": {k: str(v) for k, v in vars(args).items()}, "curve": curve, "final": final["metrics"],
               "by_kind": final["by_kind"], "caption_minutes": caption_seconds / 60}
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
