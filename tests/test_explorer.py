"""The explorer (xaiutils/explorer.py, notebooks/explorer.ipynb): its caches, its figures, and
its widgets' callbacks, driven by setting the controls' values as a click would."""

import base64
import datetime
import io
import re
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

import xaiutils as xu
from xaiutils.explorer import Explorer, Key

TITLE = re.compile(
    r"(?P<method>.+) · (?P<layer>\S+)\n(?P<cls>.+) \((?P<p>[01]\.\d\d)\) · \d+\.\d\d s"
)


@pytest.fixture
def ex(effnet):
    yield Explorer(effnet)
    plt.close("all")


@pytest.fixture(scope="module")
def first_view(effnet) -> Explorer:
    """The widgets' first view (chelsea, Grad-CAM at bn2, its top-1), computed once."""
    first = Explorer(effnet)
    first.maps("chelsea", "grad-cam")
    return first


@pytest.fixture
def live(first_view) -> Explorer:
    """An explorer with its widgets built, its caches starting from :func:`first_view`'s."""
    ex = Explorer(first_view.model)
    ex.classified, ex.cache = dict(first_view.classified), dict(first_view.cache)
    ex.seconds = dict(first_view.seconds)
    ex.widgets()
    yield ex
    plt.close("all")


@pytest.fixture
def calls(monkeypatch) -> list[tuple]:
    """Every call of ``xu.explain``, as (method, target, layer): the explorer's only way to
    compute a map."""
    seen, real = [], xu.explain

    def counting(model, x, method, target=None, layer=None, **options):
        seen.append((method, target, layer))
        return real(model, x, method, target, layer, **options)

    monkeypatch.setattr(xu, "explain", counting)
    return seen


def overlay_of(fig) -> np.ndarray:
    return fig.axes[1].images[0].get_array()


def title_of(fig) -> re.Match:
    match = TITLE.fullmatch(fig.axes[1].get_title())
    assert match, fig.axes[1].get_title()
    return match


def png_upload(name: str, image) -> tuple[dict, ...]:
    """What ipywidgets 8's FileUpload holds after one upload: a tuple of dicts."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    content = buffer.getvalue()
    when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return ({"name": name, "type": "image/png", "size": len(content),
             "content": memoryview(content), "last_modified": when},)  # fmt: skip


def test_predict_is_computed_once_per_photo(ex):
    first = ex.predict("chelsea")
    assert first is ex.predict("chelsea")
    assert (first.top5[0].index, first.top5[0].name) == (285, "Egyptian cat")
    assert first.x.shape == (1, 3, 224, 224) and first.pixels.shape == (224, 224, 3)
    assert abs(float(first.probs.sum()) - 1) < 1e-5


def test_maps_are_cached_by_photo_method_layer_and_class(ex, calls):
    first = ex.maps("chelsea", "grad-cam")  # default layer bn2, the top-1 class
    again = ex.maps("chelsea", "Grad-CAM", "bn2", "Egyptian cat (285)")  # the same key
    assert again is first and len(calls) == 1 and ex.computed == 1
    assert calls[0] == ("grad-cam", 285, "bn2") and first.shape == (224, 224)
    key = Key("chelsea", "grad-cam", "bn2", 285)
    assert set(ex.cache) == set(ex.seconds) == {key} and ex.seconds[key] > 0
    direct = xu.explain(ex.model, ex.predict("chelsea").x, "grad-cam", 285, "bn2")[0]
    assert np.allclose(first.numpy(), direct.numpy())
    # A method without a layer ignores the layer box: one key whatever it says.
    ex.maps("chelsea", "vanilla-gradient", "bn2")
    ex.maps("chelsea", "vanilla-gradient", "blocks.3")
    assert ex.computed == 2 and calls[-1] == ("vanilla-gradient", 285, None)


def test_a_new_colormap_or_alpha_redraws_without_recomputing(ex, calls):
    fig = ex.figure("chelsea", "grad-cam", alpha=0.5)
    heat = xu.normalize(ex.maps("chelsea", "grad-cam"))
    pixels = ex.predict("chelsea").pixels
    assert np.allclose(overlay_of(fig), xu.overlay(pixels, heat, alpha=0.5, cmap=xu.CMAP))
    title = title_of(fig)
    assert title["method"] == "Grad-CAM" and title["layer"] == "bn2"
    assert title["cls"] == "Egyptian cat" and float(title["p"]) > 0.75
    assert len(fig.axes) == 3 and fig.axes[2].get_ylabel() == "evidence (min-max per map)"
    assert not fig.axes[0].axison and not fig.axes[1].axison  # no ticks on the images

    other = ex.figure("chelsea", "grad-cam", cmap="viridis", alpha=0.8)
    assert len(calls) == 1  # the map came from the cache
    assert np.allclose(overlay_of(other), xu.overlay(pixels, heat, alpha=0.8, cmap="viridis"))
    assert not np.allclose(overlay_of(other), overlay_of(fig))


def test_widgets_draw_what_the_controls_say(effnet, calls):
    ex = Explorer(effnet)
    ui = ex.widgets()
    assert type(ui).__name__ == "VBox" and ex.controls["output"] in ui.children
    assert calls == [("grad-cam", 285, "bn2")]  # the first view: chelsea's top-1 at bn2
    c = ex.controls
    assert title_of(ex.figure_shown)["cls"] == "Egyptian cat" and not c["layer"].disabled
    text, image = c["output"].outputs
    assert "Egyptian cat (285)" in text["text"] and "Grad-CAM: " in text["text"]
    assert base64.b64decode(image["data"]["image/png"]).startswith(b"\x89PNG")
    assert image["data"]["text/html"].startswith('<img alt="chelsea with the Grad-CAM map at bn2')

    c["method"].value = "vanilla gradient"  # takes no layer: the layer box is greyed out
    assert c["layer"].disabled and title_of(ex.figure_shown)["layer"] == "input"
    assert calls[-1] == ("vanilla-gradient", 285, None)
    c["method"].value = "Layer-CAM"
    c["layer"].value = "blocks.3"
    assert not c["layer"].disabled and calls[-1] == ("layer-cam", 285, "blocks.3")
    assert title_of(ex.figure_shown)["method"] == "Layer-CAM"
    assert title_of(ex.figure_shown)["layer"] == "blocks.3"

    before, drawn = len(calls), overlay_of(ex.figure_shown)
    c["alpha"].value = 0.9
    c["cmap"].value = "gray"
    assert len(calls) == before and not np.allclose(overlay_of(ex.figure_shown), drawn)
    heat = xu.normalize(ex.maps("chelsea", "layer-cam", "blocks.3"))
    expected = xu.overlay(ex.predict("chelsea").pixels, heat, alpha=0.9, cmap="gray")
    assert np.allclose(overlay_of(ex.figure_shown), expected)

    c["layer"].value = "bn2"  # Layer-CAM at bn2, seen before: from the cache ...
    c["method"].value = "Grad-CAM"  # ... and Grad-CAM at bn2 too; the output says so
    assert len(calls) == before and "(cached: no time now)" in ex.text_shown


def test_a_new_photo_offers_its_top5_first(live):
    ex = live  # widgets built, the first view cached
    ex.controls["photo"].value = "coffee"
    target = ex.controls["target"]
    top5 = [f"{p.name} ({p.index})" for p in ex.predict("coffee").top5]
    assert target.value == "espresso (967)" and list(target.options[:5]) == top5
    assert len(target.options) == 1000 and target.ensure_option
    assert title_of(ex.figure_shown)["cls"] == "espresso"
    assert ex.text_shown.startswith("coffee: top-5\n   0.9")


def test_any_class_by_name_and_a_clear_message_for_an_unknown_one(live, calls):
    ex = live  # widgets built, the first view cached
    target = ex.controls["target"]
    target.value = "tabby (281)"
    assert title_of(ex.figure_shown)["cls"] == "tabby" and calls[-1] == ("grad-cam", 281, "bn2")
    target.value = "laptop"  # a name alone works too
    assert title_of(ex.figure_shown)["cls"] == "laptop"

    before = len(calls)
    target.value = "dogg"  # no exception: a message in the output, no figure
    assert ex.text_shown.startswith("ValueError: unknown class 'dogg'")
    assert "Did you mean" in ex.text_shown and ex.figure_shown is None
    assert len(ex.controls["output"].outputs) == 1 and len(calls) == before
    target.value = ""  # an empty box: the top-1
    assert title_of(ex.figure_shown)["cls"] == "Egyptian cat"


def test_class_index_reads_indices_labels_and_names(ex):
    for text in (285, "285", "Egyptian cat", "egyptian cat ", "Egyptian cat (285)"):
        assert ex.class_index(text) == 285
    with pytest.raises(ValueError, match="out of range"):
        ex.class_index(1000)
    with pytest.raises(TypeError, match="class index or name"):
        ex.class_index(2.5)


def test_an_uploaded_photo_joins_the_list_and_is_explained(live):
    ex = live  # widgets built, the first view cached
    c = ex.controls
    c["upload"].value = png_upload("my_cat.png", xu.load_photo("chelsea").resize((120, 80)))
    assert c["photo"].value == "my_cat.png" and c["photo"].options[-1] == "my_cat.png"
    assert ex.predict("my_cat.png").pixels.shape == (224, 224, 3)
    assert (
        ex.text_shown.startswith("my_cat.png: top-5") and "cat" in title_of(ex.figure_shown)["cls"]
    )

    # The same name again with another picture: its old predictions and maps are dropped.
    c["upload"].value = png_upload("my_cat.png", xu.load_photo("coffee"))
    assert title_of(ex.figure_shown)["cls"] == "espresso"
    assert all(k.target == 967 for k in ex.cache if k.photo == "my_cat.png")

    not_an_image = ({**png_upload("notes.txt", xu.load_photo("coffee"))[0],
                     "content": memoryview(b"hello")},)  # fmt: skip
    c["upload"].value = not_an_image
    assert ex.text_shown.startswith("could not read 'notes.txt' as a photo")
    assert c["photo"].value == "my_cat.png" and "notes.txt" not in c["photo"].options


def test_grid_draws_from_the_cache(ex, calls):
    methods = ["grad-cam", ("layer-cam", "blocks.3")]
    fig = ex.grid(["chelsea", "coffee"], methods)
    assert len(fig.axes) == 2 * 3 + 1 and len(calls) == 4  # 2 x (photo + 2 maps) + colorbar
    titles = [ax.get_title() for ax in fig.axes[:6]]
    assert titles[0].startswith("chelsea") and titles[3].startswith("coffee")
    assert titles[2].startswith("Layer-CAM · blocks.3\nEgyptian cat")
    assert titles[4].startswith("Grad-CAM · bn2\nespresso")
    assert all(ax.images[0].get_array().shape[:2] == (224, 224) for ax in fig.axes[:6])
    ex.grid(["chelsea", "coffee"], methods, cmap="gray", alpha=0.2)
    assert len(calls) == 4
    tabby = ex.grid(["chelsea"], ["grad-cam"], target="tabby (281)")
    assert "tabby" in tabby.axes[1].get_title() and len(calls) == 5


def test_bad_arguments_name_what_is_wrong(ex):
    with pytest.raises(ValueError, match="photo 'nope' is unknown"):
        ex.maps("nope", "grad-cam")
    with pytest.raises(ValueError, match="unknown method 'grad-kam'"):
        ex.maps("chelsea", "grad-kam")
    with pytest.raises(xu.LayerNotFoundError, match="bn3"):
        ex.maps("chelsea", "grad-cam", "bn3")
    with pytest.raises(ValueError, match="alpha"):
        ex.figure("chelsea", "grad-cam", alpha=1.5)
    with pytest.raises(ValueError, match="cmap 'jett' is not a matplotlib colormap"):
        ex.grid(["chelsea"], ["grad-cam"], cmap="jett")
    assert ex.computed == 0  # refused before any work
    with pytest.raises(TypeError, match="name"):
        ex.add_photo("", xu.load_photo("coffee"))


def test_importing_xaiutils_or_the_explorer_leaves_ipywidgets_alone():
    code = (
        "import sys, xaiutils, xaiutils.explorer;assert 'ipywidgets' not in sys.modules;print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
