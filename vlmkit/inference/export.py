"""ONNX export of a MiniVLM, and answers from the exported graphs with ``onnxruntime``.

Two graphs, exported by ``torch.onnx.export`` (the dynamo exporter):

* ``vision.onnx``: pixels ``(B, 3, S, S)`` -> image tokens ``(B, N, D)`` (encoder + projector);
* ``language.onnx``: ``inputs_embeds (B, T, D)``, ``attention_mask (B, T)`` -> the logits of
  the last position ``(B, V)``.

The decode loop runs over ``language.onnx`` without a KV cache: each new token re-reads the
whole sequence, as the source tutorial's loop did. A graph with the cache as inputs and
outputs is faster but ties the export to one cache layout of one transformers version; an
answer here is at most 44 tokens, so the plain graph is the one exported (its speed against
PyTorch's: ``benchmarks/onnx_speed.py``). Token embeddings for the loop come from
``embeddings.npy`` (read with ``allow_pickle=False``: no code runs). Answers equal
PyTorch's greedy answers, grammar-constrained or not (``tests/inference/test_export.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from transformers import AutoTokenizer, LogitsProcessorList

from vlmkit.inference.answers import MAX_TOKENS, SHAPE_OF_TASK
from vlmkit.model import MiniVLM
from vlmkit.text.codecs import Codec
from vlmkit.text.constrained import LocationGrammar
from vlmkit.text.processor import Processor
from vlmkit.text.tasks import Example

MANIFEST = "vlmkit_onnx.json"


class _Vision(torch.nn.Module):
    def __init__(self, model: MiniVLM):
        super().__init__()
        self.vision, self.projector = model.vision, model.projector

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.projector(self.vision(pixel_values))


class _Language(torch.nn.Module):
    def __init__(self, model: MiniVLM):
        super().__init__()
        self.lm = model.lm

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        return self.lm(inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=positions,
                       use_cache=False).logits[:, -1]


def export_onnx(model: MiniVLM, out_dir: str | Path, example: Example | None = None) -> Path:
    """Write ``vision.onnx``, ``language.onnx``, ``embeddings.npy``, the tokenizer and a
    manifest to ``out_dir`` (created; an existing export there is replaced file by file)."""
    if model.config.lm_lora_rank:
        raise ValueError("merge the LoRA adapters first (vlmkit.model.lora.merge_lora): the export holds plain weights")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    processor = Processor.for_model(model)
    if example is None:
        example = Example("ground", np.zeros((model.vision.image_size,) * 2 + (3,), np.uint8), "locate:", "", {})
    batch = processor.prompt_batch([example, example])
    with torch.no_grad():
        embeds = model._embed(batch["pixel_values"], batch["input_ids"])
    torch.onnx.export(_Vision(model), (batch["pixel_values"],), str(out / "vision.onnx"), dynamo=True,
                      input_names=["pixel_values"], output_names=["image_tokens"],
                      dynamic_shapes={"pixel_values": {0: "batch"}}, verbose=False)
    torch.onnx.export(_Language(model), (embeds, batch["attention_mask"]), str(out / "language.onnx"), dynamo=True,
                      input_names=["inputs_embeds", "attention_mask"], output_names=["logits"],
                      dynamic_shapes={"inputs_embeds": {0: "batch", 1: "length"},
                                      "attention_mask": {0: "batch", 1: "length"}}, verbose=False)
    np.save(out / "embeddings.npy", model.lm.get_input_embeddings().weight.detach().float().numpy())
    model.tokenizer.save_pretrained(out)
    config = model.config
    (out / MANIFEST).write_text(json.dumps({
        "format": 1, "image_size": model.vision.image_size, "image_tokens": model.num_image_tokens,
        "image_after_prompt": config.image_after_prompt, "codec_format": config.codec_format,
        "codec_bins": config.codec_bins}, indent=1))
    return out


class OnnxVLM:
    """Greedy answers from an export made by :func:`export_onnx`, with ``onnxruntime`` only
    (no PyTorch model): ``OnnxVLM(folder).predict(examples)``."""

    def __init__(self, folder: str | Path, threads: int | None = None):
        import onnxruntime as ort

        folder = Path(folder)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f"{folder} is not a vlmkit ONNX export (no {MANIFEST}); make one with "
                                    f"`vlmkit export CHECKPOINT OUT_DIR`")
        self.meta = json.loads(manifest.read_text())
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.vision = ort.InferenceSession(str(folder / "vision.onnx"), options)
        self.language = ort.InferenceSession(str(folder / "language.onnx"), options)
        self.embeddings = np.load(folder / "embeddings.npy", allow_pickle=False)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.codec = Codec(self.meta["codec_format"], self.meta["codec_bins"])
        self.processor = Processor(self.tokenizer, self.meta["image_size"], self.meta["image_tokens"],
                                   self.meta["image_after_prompt"])
        self.image_token_id = self.tokenizer.convert_tokens_to_ids("<image>")

    def predict(self, examples: Sequence[Example], constrained: bool | None = None,
                max_new_tokens: int | None = None) -> list[str]:
        """Answers for ``examples`` (all of one task), one at a time; ``constrained`` as in
        :func:`vlmkit.inference.answers.predict`."""
        if not examples:
            return []
        task = examples[0].task
        max_new = max_new_tokens or MAX_TOKENS[task]
        if constrained is None:
            constrained = task in SHAPE_OF_TASK and self.codec.fmt == "loc"
        answers = []
        for example in examples:
            grammar = LogitsProcessorList([LocationGrammar(self.tokenizer, self.codec, SHAPE_OF_TASK[task], max_new)]) \
                if constrained else None
            answers += self.processor.decode(self._generate(self.processor.prompt_batch([example]), max_new, grammar))
        return answers

    def _generate(self, batch: dict, max_new: int, grammar: LogitsProcessorList | None) -> torch.Tensor:
        ids = batch["input_ids"].numpy()
        image = self.vision.run(None, {"pixel_values": batch["pixel_values"].numpy()})[0]
        embeds = self.embeddings[ids].copy()
        embeds[ids == self.image_token_id] = image.reshape(-1, image.shape[-1])
        mask = batch["attention_mask"].numpy()
        generated = torch.empty(1, 0, dtype=torch.long)
        eos = self.tokenizer.eos_token_id
        for _ in range(max_new):
            logits = torch.from_numpy(self.language.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0])
            if grammar:
                logits = grammar(generated, logits)
            token = int(logits.argmax(-1)[0])
            generated = torch.cat([generated, torch.tensor([[token]])], dim=1)
            if token == eos:
                break
            embeds = np.concatenate([embeds, self.embeddings[[[token]]]], axis=1)
            mask = np.concatenate([mask, np.ones((1, 1), mask.dtype)], axis=1)
        return generated
