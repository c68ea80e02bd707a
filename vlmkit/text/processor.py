"""Examples -> tensors, and generated ids -> text.

Every sequence holds one ``<image>`` placeholder per image token, where the model's
config puts the image (before or after the prompt); MiniVLM writes the image
embeddings over them. Training batches are padded on the right to the longest
sequence *in the batch* (dynamic padding: never to a fixed maximum); generation
batches are padded on the left so every prompt ends where generation starts.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedTokenizerBase

from vlmkit.data.images import load_image
from vlmkit.text.tasks import Example
from vlmkit.text.tokenizer import IMAGE

IGNORE_INDEX = -100  # the label of a token the loss skips (image, prompt, padding): torch's default
MEAN, STD = 0.5, 0.5  # the normalisation of the google/vit-* and google/siglip-* checkpoints


class Processor:
    def __init__(self, tokenizer: PreTrainedTokenizerBase, image_size: int, image_tokens: int,
                 image_after_prompt: bool = False):
        self.tokenizer, self.image_size = tokenizer, image_size
        self.image_after_prompt = image_after_prompt
        image_id = tokenizer.convert_tokens_to_ids(IMAGE)
        if image_id is None or image_id == tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no {IMAGE} placeholder token; build it with vlmkit.text.tokenizer")
        self.image_ids = [image_id] * image_tokens

    @classmethod
    def for_model(cls, model) -> "Processor":
        """The processor matching ``model``'s tokenizer, image size and sequence layout."""
        return cls(model.tokenizer, model.vision.image_size, model.num_image_tokens, model.config.image_after_prompt)

    def pixels(self, images: Sequence) -> torch.Tensor:
        """Images (see :func:`vlmkit.data.images.load_image`; any size) -> ``(B, 3, S, S)`` normalised floats.
        A JPEG file is decoded at the smallest scale that still covers ``S`` (draft mode)."""
        arrays = []
        for image in images:
            pil = load_image(image, self.image_size)
            if pil.size != (self.image_size, self.image_size):
                pil = pil.resize((self.image_size, self.image_size), Image.BILINEAR)
            arrays.append(np.asarray(pil, dtype=np.float32))
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 255.0
        return (batch - MEAN) / STD

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, ex: Example) -> list[int]:
        """``[bos] <image>... prompt``, or ``[bos] prompt <image>...`` (the config's layout)."""
        bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
        text = self._ids(ex.prompt)
        return bos + (text + self.image_ids if self.image_after_prompt else self.image_ids + text)

    def training_batch(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        """Prompt (with the image placeholders), answer, eos per example; labels only on
        answer and eos."""
        tok = self.tokenizer
        sequences, labels = [], []
        for ex in examples:
            prompt = self.prompt_ids(ex)
            answer = [*self._ids(ex.answer), tok.eos_token_id]
            sequences.append(prompt + answer)
            labels.append([IGNORE_INDEX] * len(prompt) + answer)
        width = max(map(len, sequences))
        pad = lambda seqs, value: torch.tensor([s + [value] * (width - len(s)) for s in seqs])  # noqa: E731
        return {
            "pixel_values": self.pixels([ex.image for ex in examples]),
            "input_ids": pad(sequences, tok.pad_token_id),
            "attention_mask": pad([[1] * len(s) for s in sequences], 0),
            "labels": pad(labels, IGNORE_INDEX),
        }

    def prompt_batch(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        """The prompt (with the image placeholders) per example, left-padded, for generation."""
        tok = self.tokenizer
        prompts = [self.prompt_ids(ex) for ex in examples]
        width = max(map(len, prompts))
        return {
            "pixel_values": self.pixels([ex.image for ex in examples]),
            "input_ids": torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts]),
            "attention_mask": torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts]),
        }

    def box_batch(self, examples: Sequence[Example]) -> dict[str, torch.Tensor]:
        """The prompts (:meth:`prompt_batch`) and each row's box normalised by its image size,
        for training a box head (:meth:`vlmkit.model.MiniVLM.box_loss`)."""
        boxes = [[v / size for v, size in zip(ex.row["box"], (ex.row["width"], ex.row["height"]) * 2)]
                 for ex in examples]
        return {**self.prompt_batch(examples), "box_targets": torch.tensor(boxes, dtype=torch.float32)}

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Generated ids -> text, cut at the first eos."""
        texts = []
        for row in ids.tolist():
            if self.tokenizer.eos_token_id in row:
                row = row[: row.index(self.tokenizer.eos_token_id)]
            text = self.tokenizer.decode(row, skip_special_tokens=False).replace(self.tokenizer.pad_token, "")
            # a word-level decoder puts a space before punctuation; no format depends on it
            texts.append(re.sub(r" ([,.;:!?])", r"\1", text).strip())
        return texts
