"""Run by site/build.py in each lesson's kernel at start-up (never by the lessons themselves).

Every figure that matplotlib's inline backend shows gets a description in its output metadata
(key ``alt``), read from the figure itself: its overall title, how many panels and of what kind,
each panel's title, a plot's axis labels and legend, and whether it has a colour scale.
site/build.py adds the lesson and section around it and writes the result as the image's alt
text. If matplotlib_inline's internals ever change, this does nothing and site/build.py falls
back to the cell's comment and section heading.

Everything lives inside one function that deletes itself, so the lesson's namespace is unchanged.
"""


def _xai_site_install_figure_alt() -> None:
    try:
        from matplotlib_inline import backend_inline
    except ImportError:
        return
    original = getattr(backend_inline, "_fetch_figure_metadata", None)
    if original is None:
        return

    def clean(text: str) -> str:  # a title's lines become one line, comma-separated
        lines = [" ".join(line.split()) for line in text.splitlines() if line.strip()]
        return "".join(
            line + ("" if i == len(lines) - 1 else " " if line[-1] in ",:;" else ", ")
            for i, line in enumerate(lines)
        )

    def kind(ax) -> str:
        if ax.images:
            return "image"
        if ax.lines and not ax.patches:
            return "line plot"
        if ax.patches:
            return "bar chart"
        return "scatter plot" if ax.collections else "panel"

    def panel(ax) -> str:
        parts = []
        title = clean("\n".join(t for t in (ax.get_title("left"), ax.get_title()) if t))
        if title:
            parts.append(f"“{title}”")
        if kind(ax) != "image":
            x, y = clean(ax.get_xlabel()), clean(ax.get_ylabel())
            if x or y:
                parts.append(f"{y or 'values'} against {x or 'position'}")
            legend = ax.get_legend()
            if legend is not None:
                labels = [clean(t.get_text()) for t in legend.get_texts()]
                parts.append(f"legend: {', '.join(labels)}")
        notes = [clean(t.get_text()) for t in ax.texts if t.get_visible() and t.get_text()]
        if notes:  # text drawn in the panel: the labels on bars, say
            more = f" and {len(notes) - 5} more" if len(notes) > 5 else ""
            parts.append(f"labelled {', '.join(notes[:5])}{more}")
        if parts and not title:  # "bar chart labelled ...", "line plot of y against x"
            joint = " " if parts[0].startswith(("labelled", "legend")) else " of "
            parts[0] = kind(ax) + joint + parts[0]
        return ", ".join(parts)

    def describe(fig) -> str:
        axes = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
        scales = [ax for ax in axes if ax.get_label() == "<colorbar>"]
        panels = [ax for ax in axes if ax not in scales]
        if not panels:
            return ""
        texts = [panel(ax) for ax in panels]
        if len(panels) == 1:
            head = f"{'An' if kind(panels[0]) == 'image' else 'A'} {kind(panels[0])}"
        else:
            kinds = sorted({kind(ax) for ax in panels})
            head = f"{len(panels)} panels ({' and '.join(k + 's' for k in kinds)})"
            if any(texts):
                texts = [t or kind(ax) for t, ax in zip(texts, panels, strict=True)]
        suptitle = clean(fig.get_suptitle())
        if suptitle:
            head += f", “{suptitle}”"
        texts = [t for t in texts if t]
        if len(texts) > 16:
            texts = texts[:15] + [f"and {len(texts) - 15} more"]
        text = head + (": " + "; ".join(texts) if texts else "")
        if scales:
            text += ". With colour scales" if len(scales) > 1 else ". With a colour scale"
        return text + "."

    def with_alt(fig):
        metadata = original(fig)
        try:
            alt = describe(fig)
        except Exception:  # a description is a courtesy: never break a lesson over it
            alt = ""
        if alt:
            metadata = {**(metadata or {}), "alt": alt}
        return metadata

    backend_inline._fetch_figure_metadata = with_alt


_xai_site_install_figure_alt()
del _xai_site_install_figure_alt
