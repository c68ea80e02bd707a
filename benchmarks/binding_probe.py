"""Can the language model look up, in the image, the object the words name?

    python benchmarks/binding_probe.py                                  # the tiny model's ViT
    python benchmarks/binding_probe.py --encoder oracle                 # perfect colour features
    python benchmarks/binding_probe.py --encoder oracle --lm-layers 1 --colour-last --first-token-only
    python benchmarks/binding_probe.py --lm-layers 2 --image-after-prompt --first-token-only --steps 3000

The simplest binding there is: scenes of two objects of different colours, and the question
"locate: the red shape". A fresh tiny MiniVLM trains on it for ``--steps``; then, teacher-forced
on 200 held-out scenes with both objects asked for, the script reports how often the first
location token (x1, where the model decides *which* object) lands closer to the named object
than to the other one (0.5: the words are ignored), and how far x1's logits move when only the
colour word changes.

``--encoder oracle`` replaces the vision encoder and projector by exact colour fractions of each
8 px patch (from the pixels, 2x2 patches per token, plus a 2-D position code) and a trainable
MLP: colour is then perfectly readable, and whatever fails is the language model's lookup.
``--colour-last`` asks "locate: the shape red", so the colour word is the token the answer is
predicted from; ``--image-after-prompt`` lets the image tokens read the words;
``--first-token-only`` (or ``--first-token-steps``) trains on x1 alone. docs/experiments/binding.md#binding-probe has
the measurements.
"""

from __future__ import annotations

import argparse

import torch

from vlmkit.evaluation.probes import EVAL_SCENES, ColourOracle, ColourPairs, PixelsThrough, query_dependence
from vlmkit.train.profiles import new_model
from vlmkit.train.trainer import TrainConfig, Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", choices=("vit", "oracle"), default="vit")
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lm-layers", type=int, default=4)
    p.add_argument("--colour-last", action="store_true", help='ask "the shape red" instead of "the red shape"')
    p.add_argument("--first-token-only", action="store_true", help="train on x1 alone")
    p.add_argument("--first-token-steps", type=int, default=0,
                   help="train on x1 alone for this many steps, then on the whole box")
    p.add_argument("--vit-layers", type=int, default=4, help="transformer layers of the ViT (0: patch embedding only)")
    p.add_argument("--freeze-vision", action="store_true", help="keep the (untrained) vision encoder as it is")
    p.add_argument("--image-after-prompt", action="store_true",
                   help="put the image tokens after the question, so they can read the words")
    p.add_argument("--projector-norm", action=argparse.BooleanOptionalAction, default=True,
                   help="RMS-normalise the image tokens (keeps them at the scale the LM expects)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = new_model("tiny", lm_layers=args.lm_layers, image_after_prompt=args.image_after_prompt,
                      vit_freeze=args.freeze_vision, vit_layers=args.vit_layers, mp_output_norm=args.projector_norm)
    if args.encoder == "oracle":
        model.vision = PixelsThrough(model.config.vit_image_size)
        model.projector = ColourOracle(model.config.vit_image_size, model.config.vit_patch_size,
                                       model.config.lm_hidden, args.projector_norm)
    first_token_steps = args.steps if args.first_token_only else args.first_token_steps
    trainer = Trainer(model, ColourPairs(model.codec, "train", paired=False, colour_last=args.colour_last),
                      TrainConfig(steps=args.steps, lr=args.lr, first_token_steps=first_token_steps))
    trainer.train()
    held_out = ColourPairs(model.codec, "val", paired=True, colour_last=args.colour_last)
    result = query_dependence(model, [held_out[i] for i in range(2 * EVAL_SCENES)])
    losses = {h["step"]: h["loss"] for h in trainer.history if "loss" in h}
    print("loss at step " + ", ".join(f"{step}: {losses[step]:.2f}" for step in losses
                                      if step % max(args.steps // 10, 10) == 0))
    print(f"{vars(args)}\ntraining {trainer.train_seconds / 60:.1f} min; "
          + ", ".join(f"{k} {v:.3f}" for k, v in result.items()))


if __name__ == "__main__":
    main()
