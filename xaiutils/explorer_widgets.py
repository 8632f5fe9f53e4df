"""The explorer's widgets: the controls of :class:`xaiutils.explorer.Explorer` and their callbacks.

A mixin of :class:`~xaiutils.explorer.Explorer`, which holds the model, the caches and the
drawing; here only what the controls do. The callbacks are plain methods: a test sets a
control's ``.value`` and calls them. ipywidgets is imported in :meth:`widgets` only.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from PIL import Image, UnidentifiedImageError

import xaiutils as xu
from xaiutils.methods.registry import METHODS, get_method

if TYPE_CHECKING:
    import ipywidgets

__all__ = ["CMAPS", "ExplorerWidgets"]

CMAPS = (xu.CMAP, "turbo", "viridis", "inferno", "gray")  # the course's colormap comes first


class ExplorerWidgets:
    """The controls (:meth:`widgets`) and callbacks of the explorer; see
    :class:`xaiutils.explorer.Explorer` for the state they read and write."""

    controls: dict[str, Any]
    _quiet: bool

    # --- widgets ------------------------------------------------------------------------
    def widgets(self, photo: str = "chelsea", method: str = "Grad-CAM") -> ipywidgets.VBox:
        """The controls and the output, wired to :meth:`refresh` and the ``on_*`` callbacks;
        kept in :attr:`controls` by name."""
        try:
            import ipywidgets as w
        except ImportError as error:  # not in the package's own dependencies: the course's
            raise ImportError("the explorer's widgets need ipywidgets: pip install -e "
                              "'.[course]' (or pip install ipywidgets)") from error  # fmt: skip

        wide = w.Layout(width="420px")
        c = self.controls = {
            "photo": w.Dropdown(options=self.photo_names(), value=photo, description="photo"),
            "upload": w.FileUpload(accept="image/*", multiple=False, description="your photo"),
            "method": w.Dropdown(options=[m.name for m in METHODS.values()],
                                 value=get_method(method).name, description="method"),
            "layer": w.Dropdown(options=self.layers, value=self.default_layer, description="layer"),
            "target": w.Combobox(placeholder="type part of an ImageNet class", layout=wide,
                                 description="class", ensure_option=True),
            "cmap": w.Dropdown(options=CMAPS, value=xu.CMAP, description="colormap"),
            "alpha": w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="alpha",
                                   continuous_update=False),
            "output": w.Output(),
        }  # fmt: skip
        self._set_classes(photo)
        self.on_method()
        handlers = {"photo": self.on_photo, "upload": self.on_upload, "method": self.on_method}
        for name in ("photo", "upload", "method", "layer", "target", "cmap", "alpha"):
            c[name].observe(handlers.get(name, self.refresh), names="value")
        self.refresh()
        rows = [("photo", "upload"), ("method", "layer"), ("target",), ("cmap", "alpha")]
        return w.VBox([w.HBox([c[n] for n in row]) for row in rows] + [c["output"]])

    def _set_classes(self, photo: str) -> None:
        """Top-5 first, then every other class by name: the class box's options."""
        top = [p.index for p in self.predict(photo).top5]
        names = xu.class_names()
        rest = sorted(set(range(len(names))) - set(top), key=lambda i: names[i].lower())
        with self._quietly():
            self.controls["target"].options = [self.label(i) for i in top + rest]
            self.controls["target"].value = self.label(top[0])

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Change controls from code without a redraw for each change."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def on_photo(self, change: object = None) -> None:
        """A new photo: its top-5 become the first classes offered, its top-1 is chosen."""
        if self._quiet:
            return
        self._set_classes(self.controls["photo"].value)
        self.refresh()

    def on_method(self, change: object = None) -> None:
        """The layer box is enabled only for the methods that take a layer."""
        needs = get_method(self.controls["method"].value).needs_layer
        self.controls["layer"].disabled = not needs
        if change is not None:
            self.refresh()

    def on_upload(self, change: object = None) -> None:
        """Add the uploaded image (ipywidgets 8: a tuple of dicts with ``name`` and
        ``content``) as a photo and show it; an unreadable file is a message."""
        files = self.controls["upload"].value
        if not files:
            return
        name = files[-1]["name"]
        try:
            with Image.open(io.BytesIO(bytes(files[-1]["content"]))) as image:
                self.add_photo(name, image)
        except (UnidentifiedImageError, OSError, ValueError, TypeError) as error:
            why = "not an image file PIL can read" if isinstance(error, OSError) else error
            self._show(f"could not read {name!r} as a photo: {why}")
            return
        photo = self.controls["photo"]
        with self._quietly():  # new options select the first photo: no redraw for it
            photo.options = self.photo_names()
        if photo.value == name:  # the same name again: no change event, so redraw here
            self.on_photo()
        else:
            photo.value = name

    def refresh(self, change: object = None) -> Figure | None:
        """Draw what the controls say into the output: the figure, the top-5 and the time.
        A bad choice (an unknown class, say) is a message there, never an exception."""
        if self._quiet:
            return None
        c = self.controls
        try:
            key = self.key(c["photo"].value, c["method"].value, c["layer"].value, c["target"].value)
            hit = key in self.cache
            if not hit:
                m = METHODS[key.method]
                self._show(f"computing {m.name} at {key.layer or 'the input'}: {m.cost} ...")
            fig = self.figure(*key, cmap=c["cmap"].value, alpha=c["alpha"].value)
        except (ValueError, TypeError, KeyError, RuntimeError) as error:
            self._show(f"{type(error).__name__}: {error}")
            return None
        top5 = "\n".join(
            f"  {p.prob:5.2f}  {self.label(p.index)}" for p in self.classified[key.photo].top5
        )
        took = f"{self.seconds[key]:.2f} s" + (" (cached: no time now)" if hit else "")
        text = f"{key.photo}: top-5\n{top5}\n{METHODS[key.method].name}: {took}\n"
        self._show(text, fig, self.describe(key))
        return fig

    def _show(self, text: str, fig: Figure | None = None, alt: str = "") -> None:
        """Set the output's content directly (works without a live frontend, and in tests): the
        text, then the figure as a PNG with its alt text. The figure is closed (not shown twice)
        but kept in :attr:`figure_shown`."""
        self.text_shown, self.figure_shown = text, fig
        outputs: list[dict] = [{"output_type": "stream", "name": "stdout", "text": text}]
        if fig is not None:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=90)
            plt.close(fig)
            png = base64.b64encode(buffer.getvalue()).decode("ascii")
            img = f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{png}">'
            data = {"text/html": img, "image/png": png, "text/plain": alt}
            outputs.append({"output_type": "display_data", "metadata": {}, "data": data})
        self.controls["output"].outputs = tuple(outputs)
