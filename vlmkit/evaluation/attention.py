"""Where the language model looked: its attention from an answer token back to the image tokens.

For an answer (say a box), the position that *predicts* answer token ``k`` is the one just
before it; its attention row says how much each earlier position (image tokens, prompt words,
earlier answer tokens) contributed, per layer and head. :func:`answer_attention` runs the
model once on ``prompt + answer`` (teacher forcing, the sequence generation produced) and
returns that row restricted to the image tokens, laid out on the projector's grid, so
:func:`vlmkit.evaluation.viz.attention_overlay` can draw it over the image. The source tutorial of the
referring-segmentation model drew such maps to show *why* a model chose a region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vlmkit.model import MiniVLM
from vlmkit.text.processor import Processor
from vlmkit.text.tasks import Example


@dataclass
class AnswerAttention:
    """Attention of the position predicting one answer token.

    ``image``: ``(layers, heads, grid, grid)``, the weights on the image tokens; ``row``:
    ``(layers, heads, positions)``, the whole attention row (sums to 1 over the attended
    positions); ``image_share``: ``(layers, heads)``, the part of the row on the image."""

    image: np.ndarray
    row: np.ndarray
    image_share: np.ndarray
    token: str

    def mean_map(self, layer: int | None = None) -> np.ndarray:
        """The map averaged over heads (of ``layer``, negative counting from the last, or of
        all layers)."""
        maps = self.image if layer is None else self.image[[layer]]
        return maps.mean(axis=(0, 1))


@torch.no_grad()
def answer_attention(model: MiniVLM, example: Example, answer: str, token_index: int = 0) -> AnswerAttention:
    """The attention that produced answer token ``token_index`` of ``answer`` (0: the first,
    for a box x1, where the model decides which object) for ``example``'s image and prompt."""
    processor = Processor.for_model(model)
    batch = processor.training_batch([Example(example.task, example.image, example.prompt, answer, example.row)])
    prompt_length = len(processor.prompt_ids(example))
    answer_length = int((batch["labels"] != -100).sum())  # answer tokens + eos
    if not 0 <= token_index < answer_length:
        raise ValueError(f"token_index {token_index} is outside the answer's {answer_length} tokens (eos included)")
    query = prompt_length - 1 + token_index  # the position whose output is answer token `token_index`
    was_training, implementation = model.training, model.lm.config._attn_implementation
    model.eval()
    model.lm.set_attn_implementation("eager")  # fused kernels do not return attention weights
    try:
        embeds = model._embed(batch["pixel_values"], batch["input_ids"])
        out = model.lm(inputs_embeds=embeds, attention_mask=batch["attention_mask"], output_attentions=True)
    finally:
        model.lm.set_attn_implementation(implementation)
        model.train(was_training)
    row = torch.stack([layer[0, :, query, :query + 1] for layer in out.attentions]).float()  # (L, H, query+1)
    is_image = (batch["input_ids"][0, :query + 1] == model.image_token_id)
    grid = int(round(is_image.sum().item() ** 0.5))
    image = row[:, :, is_image].reshape(row.shape[0], row.shape[1], grid, grid)
    token = model.tokenizer.convert_ids_to_tokens(int(batch["input_ids"][0, query + 1]))
    return AnswerAttention(image.numpy(), row.numpy(), image.sum(dim=(2, 3)).numpy(), token)


def share_on_box(heat: np.ndarray, box, width: int, height: int) -> float:
    """The share of a ``grid x grid`` attention map on the cells whose centres lie inside ``box``
    (pixels of a ``width x height`` image): how much of the look went to that object."""
    grid_y, grid_x = heat.shape
    xs = (np.arange(grid_x) + 0.5) * width / grid_x
    ys = (np.arange(grid_y) + 0.5) * height / grid_y
    inside = ((xs[None, :] >= box[0]) & (xs[None, :] <= box[2])) & ((ys[:, None] >= box[1]) & (ys[:, None] <= box[3]))
    total = float(heat.sum())
    return float(heat[inside].sum() / total) if total > 0 else 0.0


def mean_share_on_true_box(model: MiniVLM, scored, indices, layer: int = -1) -> float:
    """The share of ``layer``'s head-averaged attention from x1 that falls inside the true box
    (:func:`share_on_box`), averaged over the queries ``indices`` of a grounding evaluation
    ``scored`` (:func:`vlmkit.evaluation.evaluate.evaluate_grounding`), each with the answer it gave."""
    shares = []
    for i in indices:
        example = scored.examples[i]
        heat = answer_attention(model, example, scored.answers[i]).mean_map(layer)
        shares.append(share_on_box(heat, example.row["box"], example.row["width"], example.row["height"]))
    if not shares:
        raise ValueError("no queries to average over")
    return float(np.mean(shares))
