"""Answers from a model: batched greedy generation, and one call per expression.

:func:`predict` answers a batch of examples of one task (KV cache, optional grammar-
constrained decoding); :func:`ground`, :func:`segment` and :func:`point` answer one free-text
expression on one image, and :func:`caption` describes one image, the way a user, the command
line or ``vlmkit app`` asks. Scoring lives in :mod:`vlmkit.evaluation.evaluate`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from tqdm.auto import tqdm
from transformers import LogitsProcessorList

from vlmkit.core.polygons import Point, Polygon
from vlmkit.data.images import load_image
from vlmkit.model import MiniVLM
from vlmkit.text.codecs import Parsed
from vlmkit.text.constrained import LocationGrammar
from vlmkit.text.processor import Processor
from vlmkit.text.tasks import PROMPTS, Example
from vlmkit.text.tokenizer import ExpressionError, read_expression

MAX_TOKENS = {"caption": 40, "ground": 8, "segment": 40, "locate_segment": 44, "point": 4, "describe": 16}
SHAPE_OF_TASK = {"ground": "box", "segment": "polygon", "locate_segment": "box+polygon", "point": "point"}
# Prompts decoded together by predict() and every evaluator: a decode step's fixed costs are
# shared by the batch, and greedy answers do not depend on it (docs/experiments/generation_speed.md)
EVAL_BATCH = 128


@torch.no_grad()
def predict(model: MiniVLM, examples: Sequence[Example], batch_size: int = EVAL_BATCH, constrained: bool | None = None,
            max_new_tokens: int | None = None, progress: bool = True) -> list[str]:
    """Greedy answers for ``examples`` (all of one task), batched, with the KV cache.

    ``constrained``: grammar-constrained decoding of boxes/outlines; ``None`` (default)
    means "whenever the task and the codec format allow it" (ground/segment in ``loc``)."""
    if not examples:
        return []
    task = examples[0].task
    max_new = max_new_tokens or MAX_TOKENS[task]
    processors = None
    if constrained is None:
        constrained = task in SHAPE_OF_TASK and model.codec.fmt == "loc"
    if constrained:
        if task not in SHAPE_OF_TASK:
            raise ValueError(f"constrained decoding applies to {sorted(SHAPE_OF_TASK)}, not {task!r}")
        shape = SHAPE_OF_TASK[task]
        processors = LogitsProcessorList([LocationGrammar(model.tokenizer, model.codec, shape, max_new)])
    processor = Processor.for_model(model)
    was_training = model.training
    model.eval()
    answers = []
    for start in tqdm(range(0, len(examples), batch_size), desc=f"predict {task}", disable=not progress):
        batch = {k: v.to(model.device) for k, v in processor.prompt_batch(examples[start:start + batch_size]).items()}
        answers += processor.decode(model.generate(**batch, max_new_tokens=max_new, logits_processor=processors))
    model.train(was_training)
    return answers


def ground(model: MiniVLM, image, expression: str, constrained: bool | None = None) -> tuple[str, Parsed]:
    """Ground one free-text ``expression`` on ``image`` (path, PIL or array; see
    :func:`vlmkit.data.images.load_image`): ``(the model's answer text, Parsed box in pixels of
    that image)``. The expression is read by :func:`vlmkit.text.tokenizer.read_expression`
    (normalised, or refused with the reason) and must fit the model's context."""
    answer, pil = _answer_one(model, "ground", image, expression, constrained)
    return answer, model.codec.parse_box(answer, pil.width, pil.height)


def segment(model: MiniVLM, image, expression: str, constrained: bool | None = None,
            box_first: bool = True) -> tuple[str, Parsed[list[Polygon]]]:
    """Outline the object ``expression`` names on ``image``, as :func:`ground` boxes it:
    ``(the model's answer text, Parsed polygon parts in pixels of that image)``. With
    ``box_first`` (notebook 03's answer form since the box-first recipe) the model is asked
    ``locate and segment:`` and writes the box before the outline; ``box_first=False`` asks
    ``segment:`` (the outline alone), for models trained that way."""
    task = "locate_segment" if box_first else "segment"
    answer, pil = _answer_one(model, task, image, expression, constrained)
    if not box_first:
        return answer, model.codec.parse_polygons(answer, pil.width, pil.height)
    located = model.codec.parse_located_outline(answer, pil.width, pil.height)
    return answer, Parsed(value=located.value[1]) if located.ok else located


def point(model: MiniVLM, image, expression: str, constrained: bool | None = None) -> tuple[str, Parsed[Point]]:
    """A point inside the object ``expression`` names, as :func:`ground` boxes it: ``(the model's
    answer text, Parsed (x, y) in pixels of that image)``."""
    answer, pil = _answer_one(model, "point", image, expression, constrained)
    return answer, model.codec.parse_point(answer, pil.width, pil.height)


def caption(model: MiniVLM, image) -> str:
    """The model's caption of ``image`` (path, PIL or array)."""
    return _answer_one(model, "caption", image, "", constrained=False)[0]


def question(model: MiniVLM, task: str, image, expression: str = "") -> Example:
    """The example :func:`predict` answers for one ``task`` question about ``image`` (read by
    :func:`vlmkit.data.images.load_image`), ``expression`` read by
    :func:`vlmkit.text.tokenizer.read_expression` (a caption has none) and checked to leave the
    answer room in the model's context."""
    pil = load_image(image)
    prompt = PROMPTS[task] if task == "caption" else f"{PROMPTS[task]} {read_expression(model.tokenizer, expression)}"
    example = Example(task, pil, prompt, answer="", row={})
    _check_fits(model, example, MAX_TOKENS[task])
    return example


def _answer_one(model: MiniVLM, task: str, image, expression: str, constrained: bool | None):
    """The model's answer to one ``task`` question about ``image``, and the image as read."""
    example = question(model, task, image, expression)
    (answer,) = predict(model, [example], batch_size=1, constrained=constrained, progress=False)
    return answer, example.image


def _check_fits(model: MiniVLM, example: Example, answer_tokens: int) -> None:
    """Refuse, with the limit, a prompt that leaves the answer no room in the model's context."""
    limit = model.lm.config.max_position_embeddings
    prompt = len(Processor.for_model(model).prompt_ids(example))
    if prompt + answer_tokens > limit:
        raise ExpressionError(f"the prompt is {prompt} tokens (image included) and the answer needs {answer_tokens}, "
                              f"beyond the {limit} positions the model reads; shorten the expression by "
                              f"{prompt + answer_tokens - limit} tokens or more")
