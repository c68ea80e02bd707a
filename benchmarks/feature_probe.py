"""Do a model's image tokens still say what colour and shape lies under them?

    python benchmarks/feature_probe.py new checkpoints/01_captioning checkpoints/02_grounding

For each model (``new``: an untrained tiny model), the image tokens of held-out 2-4 object
ShapeWorld scenes, both before the projector (the vision encoder's features, folded into
tokens) and after it, are labelled with the colour and the shape of the object that
covers most of the token's cell (cells less than 20% covered are left out), and a linear
classifier trained on 400 scenes is scored on 200 others. Grounding needs these features:
to find "the yellow triangle" the language model has to match the words against them.
Probing both sides of the projector tells where a feature is lost.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from vlmkit.evaluation.probes import TEST_SCENES, TRAIN_SCENES, cell_labels, linear_probe_accuracy, standardised
from vlmkit.storage.checkpoint import load_model
from vlmkit.text.processor import Processor
from vlmkit.train.profiles import new_model
from vlmkit.train.streams import multi_object_world


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="checkpoint directories, or 'new' for an untrained tiny model")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    world = multi_object_world()
    scenes = [world.scene("val", i)[0] for i in range(TRAIN_SCENES + TEST_SCENES)]
    print(f"linear probes on image tokens, {TRAIN_SCENES} scenes to fit, {TEST_SCENES} to score; "
          "'encoder': the vision encoder's features folded into image tokens (the projector's input), "
          "'projected': the projector's output (what the language model reads)")
    for name in args.models:
        model = (new_model("tiny") if name == "new" else load_model(name)).eval()
        grid = int(model.num_image_tokens ** 0.5)
        processor = Processor.for_model(model)
        with torch.no_grad():
            pixels = processor.pixels([Image.fromarray(s.image) for s in scenes])
            encoder = model.projector.fold(model.vision(pixels))
            places = {"encoder": encoder, "projected": model.projector.mlp(encoder)}
        scores = []
        for attribute, values in (("colour", world.config.colours), ("shape", world.config.shapes)):
            values = list(values)
            labels = torch.tensor(np.stack([cell_labels(s, grid, attribute, values) for s in scenes]))
            held_out = labels[TRAIN_SCENES:][labels[TRAIN_SCENES:] >= 0]
            majority = np.bincount(held_out).max() / len(held_out)
            readable = ", ".join(f"{place} {linear_probe_accuracy(standardised(f), labels, len(values)):.2f}"
                                 for place, f in places.items())
            scores.append(f"{attribute} {readable} (majority class {majority:.2f})")
        print(f"{name}: " + "; ".join(scores))


if __name__ == "__main__":
    main()
