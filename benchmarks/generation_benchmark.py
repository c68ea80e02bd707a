"""Generation speed of the tiny MiniVLM against the source tutorial's decoding loop.

    python benchmarks/generation_benchmark.py [--checkpoint checkpoints/03_segmentation] [--batch 128]

The seed tutorial's loop (``seed_loop``): one sample at a time, the image encoded once, and
for every new token the *whole* sequence (image, prompt and the answer so far) run through
the language model again, with no cache. vlmkit's :meth:`MiniVLM.generate`: a batch of
prompts (``EVAL_BATCH`` by default, the batch every evaluator decodes) prefilled once, then
one token per step from a preallocated KV cache. Both are greedy and forced to the same
output length (eos suppressed), so the work compared is the same: per sample milliseconds
for 8, 32, 100 and 200 new tokens, the ratio, and the cost per token.
Then vlmkit with grammar-constrained decoding on and off (outlines: the longest answers), with
the grammar's own seconds clocked inside the constrained run (the difference of two wall times
moves with the machine by as much as the grammar costs; its own clock does not). Then single
answers at batch 1, the way ``ground()`` answers one expression; last, what batching buys: 100
tokens at batch sizes 16 to 256.

Every comparison is timed *interleaved*: one repeat of each contender in turn, best of
``--repeats`` for each, so that a slow minute of a shared machine (its speed moves by 10-20%
between minutes) falls on both sides of a ratio rather than on one.
Run it alone: two jobs on 2 cores slow each other many times over.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from vlmkit.inference.answers import EVAL_BATCH
from vlmkit.storage.checkpoint import load_model
from vlmkit.text.constrained import LocationGrammar
from vlmkit.text.processor import Processor
from vlmkit.train.profiles import new_model
from vlmkit.train.streams import shapeworld_stream

LENGTHS = (8, 32, 100, 200)
SWEEP, SWEEP_TOKENS = (16, 32, 64, 128, 256), 100


@torch.no_grad()
def seed_loop(model, batch: dict, new_tokens: int) -> torch.Tensor:
    """The source tutorial's decoding for one sample: the image encoded once, then the whole
    sequence recomputed by the LM for every new token (greedy, eos suppressed)."""
    embeds = model._embed(batch["pixel_values"], batch["input_ids"])
    table = model.lm.get_input_embeddings()
    out = []
    for _ in range(new_tokens):
        logits = model.lm(inputs_embeds=embeds, use_cache=False).logits[:, -1]
        logits[:, model.tokenizer.eos_token_id] = float("-inf")
        token = logits.argmax(-1)
        out.append(token)
        embeds = torch.cat([embeds, table(token)[:, None]], dim=1)
    return torch.stack(out, dim=1)


def timed(contenders: dict, repeats: int) -> dict:
    """Best of ``repeats`` wall-clock seconds for each of ``contenders`` (name -> function),
    timed in turn within each repeat, after one untimed warm-up of each."""
    for fn in contenders.values():
        fn()
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


class Clocked(LogitsProcessor):
    """``inner``, unchanged, adding up the seconds its calls take."""

    def __init__(self, inner: LogitsProcessor):
        self.inner, self.seconds = inner, 0.0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        start = time.perf_counter()
        scores = self.inner(input_ids, scores)
        self.seconds += time.perf_counter() - start
        return scores


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: a fresh tiny model (same speed)")
    p.add_argument("--batch", type=int, default=EVAL_BATCH, help="vlmkit's batch size (default: the evaluators')")
    p.add_argument("--seed-samples", type=int, default=4, help="samples the (slow) seed loop decodes per length")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = (load_model(args.checkpoint) if args.checkpoint else new_model("tiny")).eval()
    processor = Processor.for_model(model)
    stream = shapeworld_stream("segment", model.codec)
    examples = [stream[i] for i in range(max(args.batch, *SWEEP))]
    batch = processor.prompt_batch(examples[:args.batch])
    singles = [processor.prompt_batch([e]) for e in examples[: args.seed_samples]]
    print(f"tiny MiniVLM, {args.threads} threads; vlmkit batch {args.batch}, seed loop {args.seed_samples} samples; "
          f"best of {args.repeats}, contenders timed in turn\n")

    print(f"{'new tokens':>10} | {'seed loop ms/sample':>19} | {'vlmkit ms/sample':>16} | {'ratio':>6} | "
          f"{'seed ms/token':>13} | {'vlmkit ms/token':>15}")
    for n in LENGTHS:
        t = timed({"seed": lambda: [seed_loop(model, s, n) for s in singles],
                   "vlmkit": lambda: model.generate(**batch, max_new_tokens=n, min_new_tokens=n)}, args.repeats)
        seed, ours = t["seed"] / len(singles), t["vlmkit"] / args.batch
        print(f"{n:>10} | {1000 * seed:>19.2f} | {1000 * ours:>16.3f} | {seed / ours:>5.0f}x | "
              f"{1000 * seed / n:>13.3f} | {1000 * ours / n:>15.4f}")

    print("\ngrammar-constrained decoding (outlines, vlmkit batch), ms/sample:")
    print(f"{'new tokens':>10} | {'free':>8} | {'constrained':>11} | {'cost':>6} | {'grammar itself':>14} | "
          f"{'of free':>7}")
    for n in (40, 100, 200):
        # the grammar's budget a little beyond n, so that it never asks for an eos that the
        # forced length (min_new_tokens) forbids
        grammar = Clocked(LocationGrammar(model.tokenizer, model.codec, "polygon", n + 8))
        own = []  # the grammar's seconds in each constrained run

        def constrained():
            before = grammar.seconds
            model.generate(**batch, max_new_tokens=n, logits_processor=LogitsProcessorList([grammar]),
                           min_new_tokens=n)
            own.append(grammar.seconds - before)

        t = timed({"free": lambda: model.generate(**batch, max_new_tokens=n, min_new_tokens=n),
                   "constrained": constrained}, args.repeats)
        itself = min(own[1:])  # the best of the timed runs, as for the wall times
        print(f"{n:>10} | {1000 * t['free'] / args.batch:>8.3f} | {1000 * t['constrained'] / args.batch:>11.3f} | "
              f"{100 * (t['constrained'] / t['free'] - 1):>+5.1f}% | {1000 * itself / args.batch:>14.3f} | "
              f"{100 * itself / t['free']:>6.1f}%")

    print("\nsingle answers (batch 1, as ground() and segment() answer), ms/answer:")
    print(f"{'new tokens':>10} | {'seed loop':>9} | {'transformers generate + cache':>29} | {'vlmkit':>8} | "
          f"{'vs seed':>7}")
    for n in (5, 40):
        t = timed({"seed": lambda: [seed_loop(model, s, n) for s in singles],
                   "library": lambda: [hf_generate(model, s, n) for s in singles],
                   "vlmkit": lambda: [model.generate(**s, max_new_tokens=n, min_new_tokens=n) for s in singles]},
                  args.repeats)
        seed, library, ours = (t[k] / len(singles) for k in ("seed", "library", "vlmkit"))
        print(f"{n:>10} | {1000 * seed:>9.2f} | {1000 * library:>29.2f} | {1000 * ours:>8.2f} | {seed / ours:>6.1f}x")

    print(f"\nwhat batching buys: {SWEEP_TOKENS} new tokens, ms/sample (the seed loop decodes one at a time):")
    print(f"{'batch':>10} | {'vlmkit ms/sample':>16} | {'ratio':>6}")
    prompts = {size: processor.prompt_batch(examples[:size]) for size in SWEEP}
    contenders = {"seed": lambda: [seed_loop(model, s, SWEEP_TOKENS) for s in singles]}
    contenders |= {size: (lambda b=b: model.generate(**b, max_new_tokens=SWEEP_TOKENS, min_new_tokens=SWEEP_TOKENS))
                   for size, b in prompts.items()}
    t = timed(contenders, args.repeats)
    seed = t["seed"] / len(singles)
    for size in SWEEP:
        print(f"{size:>10} | {1000 * t[size] / size:>16.3f} | {seed / (t[size] / size):>5.0f}x")


@torch.no_grad()
def hf_generate(model, batch: dict, new_tokens: int) -> torch.Tensor:
    """Hugging Face ``generate`` with its KV cache: what MiniVLM.generate ran before the lean loop."""
    embeds = model._embed(batch["pixel_values"], batch["input_ids"])
    tok = model.tokenizer
    return model.lm.generate(inputs_embeds=embeds, attention_mask=batch["attention_mask"], max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id)


if __name__ == "__main__":
    main()
