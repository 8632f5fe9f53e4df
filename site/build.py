"""Build the course as a website that works offline (`make book`).

    .venv/bin/python site/build.py                        # every notebook, into build/
    .venv/bin/python site/build.py --only 06_grad_cam     # one lesson (and the index)
    .venv/bin/python site/build.py --out /tmp/course

Each notebook in notebooks/ is executed in its own kernel, in notebooks/ (as nbval runs it),
and exported to one page with JupyterLab's look (site/templates/course/). The numbered lessons
(`NN_name.ipynb`) are chained by "previous" and "next" links in file-name order; any other
notebook (`explorer.ipynb`, the playground; `A1_...`, the appendix) is linked from the index. The
worked solutions (`notebooks/solutions/NN_name.ipynb`) become `solutions_NN_name.html`, reached
from their lesson's link (and back), in neither the chain nor the index. `index.html` is
rendered from README.md: its introduction, lesson table and glossary. MathJax comes from the
jupyter-server-mathjax package and is copied into the site, so no page fetches anything.
Prints one line per notebook and nothing else; a failing cell stops the build with its error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2
import mistune
import nbformat
import zmq
from bs4 import BeautifulSoup
from markupsafe import Markup
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter
from traitlets.config import Config

SITE = Path(__file__).resolve().parent
ROOT = SITE.parent
TEMPLATES = SITE / "templates"
KERNEL_STARTUP = SITE / "kernel_alt.py"
# The one combined MathJax configuration that jupyter-server-mathjax ships (TeX input,
# HTML-CSS output with the STIX-Web fonts); Safe.js disables \href javascript: and the like.
MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
LESSON = re.compile(r"\d\d_[a-z0-9_]+")
EXTRA_CODE = re.compile(r"#\s*extra code\s*[–-]+\s*(.+)")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    "A static page: the notebook's controls (widgets) work only while it runs. Open it in "
    "JupyterLab (make lab) to use them; here you see what it showed with its default choices."
)
WIDGET_PLACEHOLDER = "*Here the notebook shows its controls when it runs in JupyterLab.*"


@dataclass(frozen=True)
class Page:
    """One notebook of the course and the page it becomes."""

    source: Path
    title: str

    @property
    def solution(self) -> bool:
        return self.source.parent.name == "solutions"

    @property
    def name(self) -> str:
        return f"solutions_{self.source.stem}" if self.solution else self.source.stem

    @property
    def href(self) -> str:
        return f"{self.name}.html"

    @property
    def numbered(self) -> bool:
        return LESSON.fullmatch(self.name) is not None  # never a solution: "solutions_..."


def find_pages(notebooks: Path) -> list[Page]:
    """The numbered lessons in file-name order, then any other notebook (the playground, the
    appendix), then the worked solutions in solutions/."""
    paths = sorted(notebooks.glob("*.ipynb"), key=lambda p: (not LESSON.fullmatch(p.stem), p.name))
    paths += sorted((notebooks / "solutions").glob("*.ipynb"))
    return [Page(path, notebook_title(json.loads(path.read_text()), path.stem)) for path in paths]


def notebook_title(nb: dict, default: str) -> str:
    """The notebook's first level-1 heading (`# 05 · Grad-CAM from scratch`)."""
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return plain(line[2:])
    return default


def plain(markdown: str) -> str:
    """A heading's text without Markdown's marks."""
    return re.sub(r"[`*_]", "", markdown).strip()


# --- executing a notebook ---------------------------------------------------------------------


def kernel_config() -> Config:
    """Kernels that talk to us over an encrypted channel.

    ipykernel warns "Kernel is running over TCP without encryption" when its kernel manager
    starts it over TCP without CurveZMQ keys, which jupyter_client does unless told otherwise
    (`transport_encryption` is "disabled" by default). "auto" provisions the keys for kernels
    whose kernelspec declares support, as ipykernel's does. Where pyzmq has no CurveZMQ, the
    kernel uses Unix sockets (IPC) instead: no TCP at all.
    """
    config = Config()
    if zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"
    else:
        config.KernelManager.transport = "ipc"
    return config


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int, log: Path) -> None:
    """Run every cell in a fresh `python3` kernel (this Python's), started in `cwd`.

    The kernel process's own stderr goes to `log` (removed if empty), not to ours: on a busy
    machine ipykernel can print a traceback while it shuts down ("Socket operation on
    non-socket" from its control thread), after every cell has run. What a cell prints, its
    warnings included, is in the notebook's outputs, not there.
    """
    with log.open("w", encoding="utf-8") as stderr:
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(cwd)}},
            extra_arguments=[f"--IPKernelApp.exec_files={KERNEL_STARTUP}"],
            store_widget_state=False,  # widget state would need scripts from a CDN to show
            config=kernel_config(),
        ).execute(stderr=stderr)
    if not log.stat().st_size:
        log.unlink()


# --- alt text ---------------------------------------------------------------------------------


def add_alt_text(nb: nbformat.NotebookNode, lesson: str) -> int:
    """Give every image output an `alt` (output metadata, read by the page template).

    The description the kernel read from the figure (site/kernel_alt.py: panels, titles, axis
    labels), after the cell's `# extra code – ...` comment if it has one; failing both, the
    section and lesson the figure belongs to. Returns how many images there were.
    """
    section, count = "", 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            section = last_heading(cell.source) or section
            continue
        if cell.cell_type != "code":
            continue
        first = cell.source.lstrip().split("\n", 1)[0]
        lead = m.group(1).strip().rstrip(".") if (m := EXTRA_CODE.match(first)) else ""
        for output in cell.get("outputs", []):
            if not {"image/png", "image/jpeg"} & set(output.get("data", {})):
                continue
            count += 1
            described = output.setdefault("metadata", {}).get("alt", "")
            if lead:
                lead = lead[0].upper() + lead[1:]
                alt = f"{lead}. {described}" if described else f"{lead}."
            elif described:
                alt = described
            else:
                where = f"section “{section}” of " if section else ""
                alt = f"A figure in {where}“{lesson}”."
            output.metadata["alt"] = alt
    return count


def last_heading(markdown: str) -> str:
    """The last Markdown heading in a cell, outside code blocks ('' if none)."""
    heading, fenced = "", False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6}\s+(.+)", line)):
            heading = plain(m.group(1))
    return heading


# --- links ------------------------------------------------------------------------------------


def site_href(href: str, base: Path, out: Path, pages: dict[Path, str], readme: Path) -> str:
    """Where a link written in `base` (a notebook's or the README's folder) points on the site.

    A notebook that is a page becomes its page, the README becomes the index, any other local
    file is reached from the site's folder; web links and anchors stay as they are.
    """
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path:
        return href
    target = (base / unquote(parts.path)).resolve()
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    if target in pages:
        return pages[target] + fragment
    if target == readme.resolve():
        return "index.html"  # the README's own anchors are not on the index
    return Path(os.path.relpath(target, out.resolve())).as_posix() + fragment


def rewrite_links(html: str, base: Path, out: Path, pages: Iterable[Page], readme: Path) -> str:
    hrefs = {page.source.resolve(): page.href for page in pages}
    soup = BeautifulSoup(html, "html.parser")
    for a in soup.find_all("a", href=True):
        if not a.find_parent("nav", class_="course-nav"):  # ours: already the site's
            a["href"] = site_href(a["href"], base, out, hrefs, readme)
    return str(soup)


# --- pages ------------------------------------------------------------------------------------


def lesson_page(
    nb: nbformat.NotebookNode, page: Page, pages: list[Page], course: str, out: Path, readme: Path
) -> str:
    """The HTML page of an executed notebook: navigation, alt text, local links and MathJax."""
    chain = [p for p in pages if p.numbered]
    prev_page = next_page = None
    if page in chain:
        i = chain.index(page)
        prev_page = chain[i - 1] if i > 0 else None
        next_page = chain[i + 1] if i + 1 < len(chain) else None
    add_alt_text(nb, page.title)
    outputs = [output for cell in nb.cells for output in cell.get("outputs", [])]
    widgets = [output for output in outputs if WIDGET_VIEW in output.get("data", {})]
    for output in widgets:  # instead of their text form, "VBox(children=(HBox(..."
        output.data = {"text/markdown": WIDGET_PLACEHOLDER}
    note = WIDGET_NOTE if widgets else None
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    nb.metadata["title"] = f"{page.title} · {course}"
    exporter = HTMLExporter(template_name="course", extra_template_basedirs=[str(TEMPLATES)])
    exporter.mathjax_url = MATHJAX_URL
    nav = {
        "prev": prev_page and {"href": prev_page.href, "title": prev_page.title},
        "next": next_page and {"href": next_page.href, "title": next_page.title},
        "note": note,
        "has_math": bool(re.search(r"\$|\\\(|\\\[", markdown)),
    }
    html, _ = exporter.from_notebook_node(nb, resources={"course": nav})
    return rewrite_links(html, page.source.parent, out, pages, readme)


def readme_sections(text: str) -> tuple[str, str, dict[str, str]]:
    """README.md as (title, introduction, {`##` heading: its body})."""
    title, intro, sections = "", [], {}
    current: list[str] = intro
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("# ") and not title:
            title = line[2:].strip()
        elif not fenced and line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        else:
            current.append(line)
    return title, "\n".join(intro), {heading: "\n".join(body) for heading, body in sections.items()}


def section(sections: dict[str, str], start: str) -> tuple[str, str]:
    """The first section whose heading starts with `start`: (heading, body), or ('', '')."""
    return next(((h, b) for h, b in sections.items() if h.startswith(start)), ("", ""))


def index_page(readme: Path, pages: list[Page], out: Path) -> str:
    """The course's home page: what it is and for whom, the lessons, the glossary."""
    title, intro, sections = readme_sections(readme.read_text())
    markdown = mistune.create_markdown(plugins=["table"])

    def html(text: str) -> Markup:
        return Markup(rewrite_links(markdown(text), readme.parent, out, pages, readme))

    lessons_heading, lessons = section(sections, "The lessons")
    glossary_heading, glossary = section(sections, "Glossary")
    parts = {"intro": html(intro), "lessons": html(lessons), "glossary": html(glossary)}
    linked = {a["href"] for a in BeautifulSoup(parts["lessons"], "html.parser").find_all("a")}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    return env.get_template("home.html.j2").render(
        title=title,
        lessons_heading=lessons_heading or "The lessons",
        glossary_heading=glossary_heading,
        # notebooks the README's table does not list (yet): the playground, say
        extras=[page for page in pages if page.href not in linked and not page.solution],
        built=datetime.date.today().isoformat(),
        **parts,
    )


# --- the whole site ---------------------------------------------------------------------------


def copy_static(out: Path) -> None:
    """The site's stylesheet, and MathJax 2.7 from the jupyter-server-mathjax package.

    Everything it ships but the SVG output's fonts (unused: its jax is not in the package).
    """
    import jupyter_server_mathjax

    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    skip = {mathjax / "jax" / "output" / "SVG"}
    shutil.copytree(
        mathjax,
        out / "mathjax",
        ignore=lambda folder, names: [n for n in names if Path(folder) / n in skip],
        dirs_exist_ok=True,
    )
    shutil.copytree(SITE / "assets", out / "assets", dirs_exist_ok=True)


def build(
    notebooks: Path,
    out: Path,
    readme: Path,
    only: Iterable[str] = (),
    timeout: int = 600,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Execute and export the notebooks (all, or those named in `only`), then the index.

    Returns the pages written, lessons first, the index last.
    """
    os.environ["XAIUTILS_PROGRESS"] = "0"  # the kernels inherit it: no progress bars
    pages = find_pages(notebooks)
    only = set(only)
    unknown = only - {page.name for page in pages}
    if unknown:
        raise SystemExit(f"error: no notebook named {', '.join(sorted(unknown))} in {notebooks}")
    chosen = [page for page in pages if not only or page.name in only]
    course, _, _ = readme_sections(readme.read_text())
    out.mkdir(parents=True, exist_ok=True)
    copy_static(out)
    written = []
    for i, page in enumerate(chosen, start=1):
        start = time.perf_counter()
        nb = nbformat.read(page.source, as_version=4)
        log = out / f"{page.name}.kernel.log"
        try:
            execute(nb, page.source.parent, timeout, log)  # in its folder, as nbval runs it
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
            raise SystemExit(f"error: {page.source} failed (kernel log: {log}):\n{error}") from None
        target = out / page.href
        target.write_text(lesson_page(nb, page, pages, course, out, readme), encoding="utf-8")
        written.append(target)
        seconds = time.perf_counter() - start
        echo(f"[{i}/{len(chosen)}] {page.name} -> {shown(target)} ({seconds:.0f} s)")
    index = out / "index.html"
    index.write_text(index_page(readme, pages, out), encoding="utf-8")
    return [*written, index]


def shown(path: Path) -> str:
    """A path as the reader typed it: relative to the current folder where it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="default: build/")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NOTEBOOK", help="e.g. 00_setup_and_tour"
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    # for tests/test_site.py: a tiny course of its own
    hidden = argparse.SUPPRESS
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks", help=hidden)
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help=hidden)
    args = parser.parse_args(argv)
    build(args.notebooks, args.out, args.readme, args.only, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
