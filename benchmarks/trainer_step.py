"""Milliseconds per Trainer step of the tiny grounding recipe, batch building included, for the checkout on PYTHONPATH.

Compare two commits by running it in alternating rounds, one checkout each (a worktree per
commit), alone on the machine:

    for r in 1 2 3; do PYTHONPATH=../old python benchmarks/trainer_step.py old; PYTHONPATH=. python benchmarks/trainer_step.py new; done

Every round builds the model afresh (seed 0), trains 10 warm-up steps, then times 60.
"""

import argparse
import time

import torch

from vlmkit.train.profiles import load_profile
from vlmkit.train.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label", help="what to call this checkout in the printed line")
    parser.add_argument("--steps", type=int, default=60, help="timed steps, after 10 warm-up steps")
    args = parser.parse_args()
    profile = load_profile("tiny", announce=False)
    recipe = profile.recipe("02_grounding")
    torch.manual_seed(0)
    model = profile.new_model()
    stream = profile.training_stream("ground", model.codec, recipe)
    config = recipe.train_config(steps=10 + args.steps, eval_every=0, save_every=0, progress=False, log_every=10)
    trainer = Trainer(model, stream, config)
    trainer.train(until_step=10)
    start = time.perf_counter()
    trainer.train(until_step=10 + args.steps)
    print(f"{args.label}: {1000 * (time.perf_counter() - start) / args.steps:.1f} ms/step")


if __name__ == "__main__":
    main()
