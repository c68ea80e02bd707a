"""What has a model learned? The probes behind ``benchmarks/feature_probe.py``,
``benchmarks/binding_probe.py`` and ``benchmarks/grounding_diagnosis.py`` (the scripts are their
command lines; ``docs/experiments/README.md`` has what they measured).

* Feature probe: do the image tokens, before and after the projector, still say what colour
  and shape lies under them? A linear classifier per attribute on held-out scenes.
* Binding probe: can the language model look up, in the image, the object the words name?
  Two-object colour scenes, and how often x1 lands on the named object.
* Grounding diagnosis: accuracy of attribute expressions by the attributes they name.
* Language probe: does the language model know the language? Its loss on plain text (a
  pretrained LM scores far below a random one, which scores about ln(vocabulary size)).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from einops import rearrange
from torch import nn

from vlmkit.data.shapeworld import SceneConfig, ShapeWorld
from vlmkit.data.shapeworld.language import named_attributes
from vlmkit.data.shapeworld.scenes import BACKGROUND, COLOURS, Scene
from vlmkit.evaluation.evaluate import Scored
from vlmkit.model import MiniVLM
from vlmkit.model.vision import sincos_2d
from vlmkit.text.processor import IGNORE_INDEX, MEAN, STD, Processor
from vlmkit.text.tasks import Example, Stream

# ---- feature probe -------------------------------------------------------------------------
TRAIN_SCENES, TEST_SCENES, MIN_COVER = 400, 200, 0.2


def cell_labels(scene: Scene, grid: int, attribute: str, values: list[str]) -> np.ndarray:
    """``attribute`` index of the object covering most of each grid cell, -1 where none covers enough."""
    cell = scene.size // grid
    labels = np.full(grid * grid, -1)
    for r in range(grid):
        for c in range(grid):
            cover = [o.mask[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell].sum() for o in scene.objects]
            best = int(np.argmax(cover))
            if cover[best] >= MIN_COVER * cell * cell:
                labels[r * grid + c] = values.index(getattr(scene.objects[best], attribute))
    return labels


def standardised(features: torch.Tensor) -> torch.Tensor:
    """Each feature at mean 0 and std 1 over all scenes and tokens, so one probe setting fits all."""
    return (features - features.mean((0, 1))) / (features.std((0, 1)) + 1e-6)


def linear_probe_accuracy(features: torch.Tensor, labels: torch.Tensor, classes: int) -> float:
    """Held-out accuracy of a linear classifier on ``features`` (scenes, tokens, dim)."""
    train, test = slice(0, TRAIN_SCENES), slice(TRAIN_SCENES, None)
    x, y = features[train].flatten(0, 1), labels[train].flatten()
    x, y = x[y >= 0], y[y >= 0]
    probe = torch.nn.Linear(features.shape[-1], classes)
    optimizer = torch.optim.Adam(probe.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(500):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(probe(x), y).backward()
        optimizer.step()
    xt, yt = features[test].flatten(0, 1), labels[test].flatten()
    with torch.no_grad():
        return (probe(xt[yt >= 0]).argmax(-1) == yt[yt >= 0]).float().mean().item()


# ---- binding probe -------------------------------------------------------------------------
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


# ---- grounding diagnosis -------------------------------------------------------------------
def accuracy_by_named_attributes(result: Scored) -> dict[str, dict]:
    """Acc@0.5 of the attribute expressions in ``result`` (from evaluate_grounding), grouped
    by :func:`vlmkit.data.shapeworld.language.named_attributes`."""
    hits = defaultdict(list)
    for example, iou in zip(result.examples, result.ious):
        if example.kind == "attribute":
            hits[named_attributes(example.expression)].append(iou >= 0.5)
    return {names: {"queries": len(h), "acc@0.5": float(np.mean(h))} for names, h in sorted(hits.items())}


# ---- language probe ------------------------------------------------------------------------
@torch.no_grad()
def language_model_loss(lm, tokenizer, texts: list[str]) -> float:
    """Mean next-token cross-entropy (nats a token) of the causal LM ``lm`` on ``texts``, each
    read after the tokenizer's bos, as the LM alone reads text (no image)."""
    if not texts:
        raise ValueError("language_model_loss needs at least one text")
    device = next(lm.parameters()).device
    total, count = 0.0, 0
    for text in texts:
        ids = torch.tensor([[tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]],
                           device=device)
        total += lm(input_ids=ids, labels=ids).loss.item() * (ids.shape[1] - 1)
        count += ids.shape[1] - 1
    return total / count
