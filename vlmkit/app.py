"""``vlmkit app CHECKPOINT``: a web page where anyone can ask a model about an image.

Upload an image or pick an example, type an expression and choose the task (ground, locate and
segment, point, caption): the page shows the answer drawn on the image, the answer as the model
wrote it, and where the model looked for the first token of its answer
(:mod:`vlmkit.evaluation.attention`). Every upload goes through the one image loader
(:func:`vlmkit.data.images.load_image`), so one it refuses (not an image, too many pixels, NaN
values) shows the loader's message, never a stack trace; a 16-bit image is scaled to 8 bits and
answered. :func:`answer` is the page's whole logic and needs no web framework; :func:`build`
lays it out with gradio, the optional extra ``vlmkit[app]``.
"""

from __future__ import annotations

import tempfile
from dataclasses import astuple, dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from PIL import Image

from vlmkit.data.coco import sample_folder
from vlmkit.data.images import ImageError
from vlmkit.data.jsonl import read_jsonl
from vlmkit.data.shapeworld import ShapeWorld
from vlmkit.evaluation.attention import answer_attention
from vlmkit.evaluation.viz import PRED_COLOUR, attention_overlay, draw_point, figure_image, show_example
from vlmkit.inference.answers import predict, question
from vlmkit.model import MiniVLM
from vlmkit.storage.checkpoint import load_model
from vlmkit.text.tokenizer import ExpressionError, is_word_level

TASKS = {"ground": "ground", "locate and segment": "locate_segment", "point": "point", "caption": "caption"}
SHAPE_NAMES = {"ground": "a box", "locate_segment": "a box and an outline", "point": "a point"}
MAX_UPLOAD = "20mb"  # gradio refuses bigger files itself; the loader refuses too many pixels (PIL's limit)


@dataclass
class Reply:
    """What the page shows for one question: the answer ``drawn`` on the image, the ``answer``
    text, where the model ``looked``, and a ``message`` (why there is no answer, or none)."""

    drawn: Image.Image | None
    answer: str
    looked: Image.Image | None
    message: str


def answer(model: MiniVLM, image, expression: str, task: str) -> Reply:
    """``model``'s answer to one question about ``image`` (a path, PIL image or array) for the
    page's ``task`` (a key of :data:`TASKS`). An image the loader refuses, or an expression the
    model cannot read, gives a message and no answer."""
    task = TASKS[task]
    if image is None:
        return Reply(None, "", None, "Upload an image or pick an example first.")
    try:
        example = question(model, task, image, expression)
    except FileNotFoundError as err:
        return Reply(None, "", None, f"**This upload is gone:** {err}")
    except ImageError as err:
        return Reply(None, "", None, f"**This image cannot be used:** {err}")
    except ExpressionError as err:
        return Reply(None, "", None, f"**This expression cannot be read:** {err}")
    (text,) = predict(model, [example], batch_size=1, progress=False)
    shape, message = _parse(model, task, text, example.image)
    box = shape if task == "ground" else shape[0] if task == "locate_segment" and shape else None
    heat = answer_attention(model, example, text)
    title = text if task == "caption" else f'"{" ".join(expression.split())}" -> the model\'s answer (red, dashed)'
    return Reply(_drawn(example.image, task, shape, box, title), text,
                 _looked(example.image, heat.mean_map(layer=-1), heat.token, box), message)


def _parse(model: MiniVLM, task: str, text: str, image: Image.Image) -> tuple[object, str]:
    """The answer's shape in pixels of ``image`` (None for a caption, or an answer that does not
    parse) and a message saying why it did not."""
    codec, size = model.codec, (image.width, image.height)
    if task == "caption":
        return None, ""
    parse = {"ground": codec.parse_box, "locate_segment": codec.parse_located_outline, "point": codec.parse_point}
    parsed = parse[task](text, *size)
    if parsed.ok:
        return parsed.value, ""
    detail = f" ({parsed.detail})" if parsed.detail else ""
    return None, f"The answer is not {SHAPE_NAMES[task]}: {parsed.failure.value}{detail}."


def _drawn(image: Image.Image, task: str, shape, box, title: str) -> Image.Image:
    fig, ax = plt.subplots(figsize=(5, 5 * image.height / image.width + 0.4))
    outline = shape[1] if task == "locate_segment" and shape else None
    show_example(ax, image, title, pred_box=box, pred_polygons=outline)
    if task == "point" and shape:
        draw_point(ax, shape, PRED_COLOUR)
    return figure_image(fig)


def _looked(image: Image.Image, heat, token: str, box) -> Image.Image:
    fig, ax = plt.subplots(figsize=(5, 5 * image.height / image.width + 0.4))
    attention_overlay(ax, image, heat, f"where the model looked to write {token!r} (last layer)", pred_box=box)
    return figure_image(fig)


def examples(model: MiniVLM, folder: Path, scenes: int = 3) -> list[list]:
    """Questions to pick from: ShapeWorld scenes (saved in ``folder``) with their expressions,
    and the packaged COCO photos, to caption or, for a model whose tokenizer reads any phrase
    (the full profile's), to ground with the phrases written for them."""
    picks, tasks = [], list(TASKS)
    for index in range(scenes):
        row = next(r for r in ShapeWorld().rows("val", index) if r["expressions"])
        path = folder / f"shapeworld_val_{index}.png"
        row["image"].save(path)
        picks.append([str(path), row["expressions"][0], tasks[index % 3]])
    photos = [r for r in read_jsonl(sample_folder() / "your_data.jsonl", progress=False).rows if r["expressions"]]
    if not is_word_level(model.tokenizer):
        picks += [[r["image"], r["expressions"][0], "locate and segment"] for r in photos[::8]]
    return picks + [[photos[0]["image"], "", "caption"]]


def build(model: MiniVLM, picks: list[list]):
    """The page (a gradio ``Blocks``): the question on the left, the answer on the right."""
    gr = _gradio()
    with gr.Blocks(title="vlmkit", analytics_enabled=False) as page:
        gr.Markdown("## Ask a vlmkit model about an image\nUpload an image (or pick an example below), write what "
                    "to look for, choose the task, and press **Answer**.")
        with gr.Row():
            with gr.Column(scale=2):
                image = gr.File(label="image", type="filepath", elem_id="image")
                expression = gr.Textbox(label="expression (not needed for a caption)", elem_id="expression",
                                        placeholder="the red circle")
                task = gr.Radio(list(TASKS), value="ground", label="task", elem_id="task")
                ask = gr.Button("Answer", variant="primary", elem_id="ask")
                gr.Examples(picks, inputs=[image, expression, task], label="examples")
            with gr.Column(scale=3):
                message = gr.Markdown(elem_id="message")
                with gr.Row():
                    drawn = gr.Image(label="the answer, drawn", type="pil", interactive=False, elem_id="drawn")
                    looked = gr.Image(label="where the model looked", type="pil", interactive=False,
                                      elem_id="looked")
                text = gr.Textbox(label="the answer as the model wrote it", interactive=False, elem_id="answer")
        ask.click(lambda *question: astuple(answer(model, *question)), inputs=[image, expression, task],
                  outputs=[drawn, text, looked, message])
    return page


def launch(model: MiniVLM, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Serve the page for ``model`` on ``host:port``; with ``block=False`` return at once (the page
    and its URL), for a test or a notebook. The examples' scenes go to a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="vlmkit-app-"))
    page = build(model, examples(model, folder))
    _, url, _ = page.launch(server_name=host, server_port=port, prevent_thread_lock=not block, quiet=not block,
                            max_file_size=MAX_UPLOAD, allowed_paths=[str(folder), str(sample_folder())],
                            ssr_mode=False)
    return page, url


def serve(checkpoint: str | Path, host: str = "127.0.0.1", port: int = 7860) -> None:
    """``vlmkit app``: load ``checkpoint`` and serve its page until interrupted."""
    _gradio()  # say what is missing before loading a model
    matplotlib.use("Agg")  # a server draws into images, never into windows
    launch(load_model(checkpoint).eval(), host, port)


def _gradio():
    try:
        import gradio
    except ImportError as err:
        raise ImportError(f"vlmkit app needs gradio: pip install 'vlmkit[app]' ({err})") from err
    return gradio
