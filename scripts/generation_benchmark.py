"""Generation speed of the tiny MiniVLM against the source tutorial's decoding loop.

    python scripts/generation_benchmark.py [--checkpoint checkpoints/03_segmentation] [--batch 64]

The seed tutorial's loop (``seed_loop``): one sample at a time, the image encoded once, and
for every new token the *whole* sequence (image, prompt and the answer so far) run through
the language model again, with no cache. vlmkit's :meth:`MiniVLM.generate`: a batch of
prompts prefilled once, then one token per step from a preallocated KV cache. Both are greedy
and forced to the same output length (eos suppressed), so the work compared is the same: per
sample milliseconds for 8, 32, 100 and 200 new tokens, the ratio, and the cost per token.
Then vlmkit with grammar-constrained decoding on and off (outlines: the longest answers),
and single answers at batch 1, the way ``ground()`` answers one expression.
Run it alone: two jobs on 2 cores slow each other many times over.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from transformers import LogitsProcessorList

from vlmkit.checkpoint import load_model
from vlmkit.constrained import LocationGrammar
from vlmkit.processor import Processor
from vlmkit.profiles import new_model
from vlmkit.shapeworld.streams import shapeworld_stream

LENGTHS = (8, 32, 100, 200)


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


def timed(fn, repeats: int) -> float:
    """Best of ``repeats`` wall-clock seconds (after one untimed warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=None, help="default: a fresh tiny model (same speed)")
    p.add_argument("--batch", type=int, default=64, help="vlmkit's batch size")
    p.add_argument("--seed-samples", type=int, default=4, help="samples the (slow) seed loop decodes per length")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = (load_model(args.checkpoint) if args.checkpoint else new_model("tiny")).eval()
    processor = Processor.for_model(model)
    examples = [shapeworld_stream("segment", model.codec)[i] for i in range(args.batch)]
    batch = processor.prompt_batch(examples)
    singles = [processor.prompt_batch([e]) for e in examples[: args.seed_samples]]
    print(f"tiny MiniVLM, {args.threads} threads; vlmkit batch {args.batch}, seed loop {args.seed_samples} samples; "
          f"best of {args.repeats}\n")

    print(f"{'new tokens':>10} | {'seed loop ms/sample':>19} | {'vlmkit ms/sample':>16} | {'ratio':>6} | "
          f"{'seed ms/token':>13} | {'vlmkit ms/token':>15}")
    for n in LENGTHS:
        seed = timed(lambda: [seed_loop(model, s, n) for s in singles], args.repeats) / len(singles)
        ours = timed(lambda: model.generate(**batch, max_new_tokens=n, min_new_tokens=n), args.repeats) / args.batch
        print(f"{n:>10} | {1000 * seed:>19.2f} | {1000 * ours:>16.3f} | {seed / ours:>5.0f}x | "
              f"{1000 * seed / n:>13.3f} | {1000 * ours / n:>15.4f}")

    print("\ngrammar-constrained decoding (outlines, vlmkit batch), ms/sample:")
    print(f"{'new tokens':>10} | {'free':>8} | {'constrained':>11} | {'cost':>6}")
    for n in (40, 100, 200):
        # the grammar's budget a little beyond n, so that it never asks for an eos that the
        # forced length (min_new_tokens) forbids
        grammar = LogitsProcessorList([LocationGrammar(model.tokenizer, model.codec, "polygon", n + 8)])
        free = timed(lambda: model.generate(**batch, max_new_tokens=n, min_new_tokens=n), args.repeats)
        constrained = timed(lambda: model.generate(**batch, max_new_tokens=n, logits_processor=grammar,
                                                   min_new_tokens=n), args.repeats)
        print(f"{n:>10} | {1000 * free / args.batch:>8.3f} | {1000 * constrained / args.batch:>11.3f} | "
              f"{100 * (constrained / free - 1):>+5.1f}%")

    print("\nsingle answers (batch 1, as ground() and segment() answer), ms/answer:")
    print(f"{'new tokens':>10} | {'seed loop':>9} | {'transformers generate + cache':>29} | {'vlmkit':>8} | "
          f"{'vs seed':>7}")
    for n in (5, 40):
        seed = timed(lambda: [seed_loop(model, s, n) for s in singles], args.repeats) / len(singles)
        library = timed(lambda: [hf_generate(model, s, n) for s in singles], args.repeats) / len(singles)
        ours = timed(lambda: [model.generate(**s, max_new_tokens=n, min_new_tokens=n) for s in singles],
                     args.repeats) / len(singles)
        print(f"{n:>10} | {1000 * seed:>9.2f} | {1000 * library:>29.2f} | {1000 * ours:>8.2f} | {seed / ours:>6.1f}x")


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
