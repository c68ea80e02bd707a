"""Can the language model look up, in the image, the object the words name?

    python scripts/binding_probe.py                                  # the tiny model's ViT
    python scripts/binding_probe.py --encoder oracle                 # perfect colour features
    python scripts/binding_probe.py --encoder oracle --lm-layers 1 --colour-last --first-token-only
    python scripts/binding_probe.py --lm-layers 2 --image-after-prompt --first-token-only --steps 3000

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
``--first-token-only`` (or ``--first-token-steps``) trains on x1 alone. docs/experiments.md#binding-probe has
the measurements.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from einops import rearrange
from torch import nn

from vlmkit.model import MiniVLM
from vlmkit.model.vision import sincos_2d
from vlmkit.model.vlm import IGNORE_INDEX
from vlmkit.processor import MEAN, STD, Processor
from vlmkit.profiles import new_model
from vlmkit.shapeworld import SceneConfig, ShapeWorld
from vlmkit.shapeworld.scenes import BACKGROUND, COLOURS
from vlmkit.tasks import Example, Stream
from vlmkit.trainer import TrainConfig, Trainer

EVAL_SCENES = 200
# background first, then the ShapeWorld colours, as 0-1 RGB
REFERENCE_COLOURS = torch.tensor([[BACKGROUND] * 3, *COLOURS.values()], dtype=torch.float32) / 255


def colour_fractions(pixel_values: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, patches, 1 + colours)``: the share of each patch's pixels nearest to the background
    and to each ShapeWorld colour (``pixel_values`` as the processor normalises them)."""
    rgb = (pixel_values * STD + MEAN).permute(0, 2, 3, 1)
    nearest = ((rgb[..., None, :] - REFERENCE_COLOURS) ** 2).sum(-1).argmin(-1)
    one_hot = nn.functional.one_hot(nearest, len(REFERENCE_COLOURS)).float()
    return rearrange(one_hot, "b (h p1) (w p2) c -> b (h w) (p1 p2) c", p1=patch, p2=patch).mean(2)


class PixelsThrough(nn.Module):
    """Stands in for the vision encoder: hands the pixels on (the oracle reads them)."""

    def __init__(self, image_size: int):
        super().__init__()
        self.image_size = image_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return pixel_values


class ColourOracle(nn.Module):
    """Stands in for the projector: colour fractions per patch, 2x2 patches per token, a 2-D
    sin/cos position code, then a trainable MLP into the language model's width."""

    def __init__(self, image_size: int, patch: int, lm_hidden: int, output_norm: bool):
        super().__init__()
        self.patch, self.grid = patch, image_size // patch // 2
        per_token = 4 * len(REFERENCE_COLOURS)
        self.register_buffer("positions", sincos_2d(self.grid, per_token), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * per_token, lm_hidden), nn.GELU(), nn.Linear(lm_hidden, lm_hidden))
        if output_norm:
            self.mlp.append(nn.RMSNorm(lm_hidden))

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        fractions = colour_fractions(pixel_values, self.patch)
        tokens = rearrange(fractions, "b (h s1 w s2) c -> b (h w) (s1 s2 c)", h=self.grid, s1=2, s2=2)
        return self.mlp(torch.cat([tokens, self.positions.expand(len(tokens), -1, -1)], dim=-1))


class ColourPairs(Stream):
    """Two-object scenes whose objects differ in colour; "locate: the <colour> shape".

    Training (``paired=False``): scene ``i``, one object picked at random. Evaluation
    (``paired=True``): examples ``2i`` and ``2i+1`` ask for the two objects of scene ``i``.
    """

    def __init__(self, codec, split: str, paired: bool, colour_last: bool = False):
        self.world = ShapeWorld(SceneConfig(min_objects=2, max_objects=2))
        self.codec, self.split, self.paired, self.colour_last = codec, split, paired, colour_last

    def __len__(self) -> int:
        return 10**12

    def _scene(self, index: int):
        for offset in range(100):  # a fixed, deterministic skip over same-colour scenes
            scene, _ = self.world.scene(self.split, index * 100 + offset)
            if scene.objects[0].colour != scene.objects[1].colour:
                return scene
        raise ValueError(f"no two-colour scene near index {index}")

    def __getitem__(self, index: int) -> Example:
        scene = self._scene(index // 2 if self.paired else index)
        which = index % 2 if self.paired else int(np.random.default_rng(index).integers(2))
        obj = scene.objects[which]
        words = f"the shape {obj.colour}" if self.colour_last else f"the {obj.colour} shape"
        row = {"box": list(obj.box), "width": scene.size, "height": scene.size}
        return Example("ground", scene.image, f"locate: {words}", self.codec.encode_box(obj.box, scene.size,
                                                                                         scene.size), row)


def x1_binding(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """Share of queries whose predicted x1 bin is closer to the named object's x1 than to the
    other object's. Queries come in pairs (the two objects of one scene); pairs whose two x1
    are equal say nothing and are left out. An answer that ignores the words scores 0.5."""
    other = truth.view(-1, 2).flip(1).reshape(-1)
    informative = truth != other
    closer = (predicted - truth).abs() < (predicted - other).abs()
    return closer[informative].float().mean().item()


@torch.no_grad()
def query_dependence(model: MiniVLM, examples: list[Example]) -> dict[str, float]:
    """Teacher-forced x1 on paired ``examples``: binding (see :func:`x1_binding`), share within 3
    bins of the truth, and mean |logit change| between a scene's two questions."""
    model.eval()
    batch = Processor.for_model(model).training_batch(examples)
    logits = model(**batch).logits
    rows = torch.arange(len(examples))
    first = (batch["labels"] != IGNORE_INDEX).float().argmax(dim=1)
    x1_logits = logits[rows, first - 1][:, model.loc_token_ids]
    predicted, truth = x1_logits.argmax(-1), model.bin_of_token[batch["labels"][rows, first]]
    return {"x1_closer_to_named": x1_binding(predicted, truth),
            "x1_within_3_bins": ((predicted - truth).abs() <= 3).float().mean().item(),
            "logit_change_between_questions": (x1_logits[0::2] - x1_logits[1::2]).abs().mean().item(),
            "logit_std": x1_logits.std().item()}


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
