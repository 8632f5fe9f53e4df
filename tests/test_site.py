"""The course as a website (site/build.py, `make book`): pages that read offline.

A tiny course (two lessons with a formula, a Markdown table and figures, and an unnumbered
playground with a widget) is built once, in a subprocess as `make book` runs it: its output,
navigation, links, alt text and every reference to a script, style or font are checked. The
Chromium test opens a page headless and checks that MathJax typeset the formulas from the
site's own files; it is skipped where Chromium is not installed.
"""

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "No description has been provided for this image"


def _load_builder():
    # site/ is not a package (and `site` is a module of Python's own): load the script by path.
    spec = importlib.util.spec_from_file_location("course_site_build", ROOT / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


builder = _load_builder()

FORMULA = r"$$\alpha_k^c = \frac{1}{Z} \sum_{i,j} \frac{\partial y^c}{\partial A^k_{ij}}$$"
FIRST = [
    nbformat.v4.new_markdown_cell(
        "# 00 · First lesson\n\n[next](01_second.ipynb) | [course overview](../README.md)\n\n"
        f"Grad-CAM's weights:\n\n{FORMULA}\n\nfor the logit $y^c$.\n\n"
        "| layer | cells |\n|---|---|\n| `bn2` | 7 x 7 |"
    ),
    nbformat.v4.new_markdown_cell("## 1. Two panels"),
    nbformat.v4.new_code_cell(
        "# extra code – a map and a curve\n"
        "import matplotlib.pyplot as plt\n\n"
        "fig, axes = plt.subplots(1, 2, figsize=(6, 3))\n"
        "axes[0].imshow([[0, 1], [1, 0]])\n"
        "axes[0].set_title('Grad-CAM bn2\\nespresso')\n"
        "axes[1].plot([0, 1, 2], [1, 0.5, 0.2])\n"
        "axes[1].set(xlabel='fraction deleted', ylabel='probability')\n"
        "plt.show()"
    ),
    nbformat.v4.new_code_cell("plt.imshow([[1, 2], [3, 4]])\nplt.axis('off')\nplt.show()"),
]
SECOND = [
    nbformat.v4.new_markdown_cell(
        "# 01 · Second lesson\n\n[back](00_first.ipynb)\n\n"
        "Worked solutions: [solutions/01_second.ipynb](solutions/01_second.ipynb)"
    ),
    nbformat.v4.new_code_cell("print('hello')"),
]
SOLUTIONS = [
    nbformat.v4.new_markdown_cell(
        "# Solutions · 01 · Second lesson\n\n[← back to the lesson](../01_second.ipynb)"
    ),
    nbformat.v4.new_code_cell("from pathlib import Path\n\nassert Path.cwd().name == 'solutions'"),
]
PLAYGROUND = [
    nbformat.v4.new_markdown_cell("# Explorer · A playground"),
    nbformat.v4.new_code_cell("import ipywidgets\n\nipywidgets.IntSlider(3)"),
]
README = """# A tiny course

What it is, and for whom.

## Quick start

Run it.

## The lessons

| # | lesson | status |
|---|---|---|
| 00 | [First lesson](notebooks/00_first.ipynb) | ready |

## Glossary / 术语表

| English | 中文 |
|---|---|
| heatmap | 热力图 |
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The tiny course built as `make book` builds the course: (folder, stdout, stderr)."""
    base = tmp_path_factory.mktemp("course")
    (base / "notebooks").mkdir()
    (base / "notebooks" / "solutions").mkdir()
    for name, cells in [
        ("00_first", FIRST),
        ("01_second", SECOND),
        ("explorer", PLAYGROUND),
        ("solutions/01_second", SOLUTIONS),
    ]:
        nbformat.write(nbformat.v4.new_notebook(cells=cells), base / "notebooks" / f"{name}.ipynb")
    (base / "README.md").write_text(README)
    out = base / "build"
    command = [sys.executable, str(ROOT / "site" / "build.py"), "--out", str(out)]
    command += ["--notebooks", str(base / "notebooks"), "--readme", str(base / "README.md")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out, result.stdout, result.stderr


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _nav(page: BeautifulSoup) -> dict[str, str | None]:
    nav = page.select_one("nav.course-nav-top")
    found = {rel: nav.find("a", rel=rel) for rel in ("prev", "next")}
    found["home"] = nav.find("a", class_="course-nav-home")
    return {key: a["href"] if a else None for key, a in found.items()}


def test_the_build_prints_one_line_per_notebook_and_nothing_else(site):
    out, stdout, stderr = site
    lines = stdout.splitlines()
    assert len(lines) == 4, stdout
    names = ["00_first", "01_second", "explorer", "solutions_01_second"]
    for i, name in enumerate(names, start=1):
        assert re.fullmatch(rf"\[{i}/4\] {name} -> .*{name}\.html \(\d+ s\)", lines[i - 1])
    assert stderr == ""  # no kernel warning, no nbconvert warning


def test_index_links_every_notebook_and_shows_the_glossary(site):
    out, _, _ = site
    index = _soup(out / "index.html")
    links = {a["href"] for a in index.find_all("a", href=True)}
    assert {"00_first.html", "01_second.html", "explorer.html"} <= links
    assert "solutions_01_second.html" not in links  # reached from its lesson, not the index
    assert index.find("h1").get_text() == "A tiny course"
    assert "热力图" in index.get_text() and "What it is, and for whom." in index.get_text()


def test_lessons_are_chained_and_the_playground_is_not(site):
    out, _, _ = site
    first, second = _soup(out / "00_first.html"), _soup(out / "01_second.html")
    assert _nav(first) == {"prev": None, "next": "01_second.html", "home": "index.html"}
    assert _nav(second) == {"prev": "00_first.html", "next": None, "home": "index.html"}
    assert _nav(_soup(out / "explorer.html")) == {"prev": None, "next": None, "home": "index.html"}
    assert first.select_one("nav.course-nav-bottom") is not None


def test_a_solution_is_its_own_page_linked_from_its_lesson_and_back(site):
    out, _, _ = site
    lesson, solution = _soup(out / "01_second.html"), _soup(out / "solutions_01_second.html")
    assert "solutions_01_second.html" in {a["href"] for a in lesson.find_all("a", href=True)}
    assert "01_second.html" in {a["href"] for a in solution.find_all("a", href=True)}
    assert _nav(solution) == {"prev": None, "next": None, "home": "index.html"}  # not chained
    assert _nav(_soup(out / "01_second.html"))["next"] is None


def test_links_between_notebooks_point_to_pages(site):
    out, _, _ = site
    content = _soup(out / "00_first.html").select_one(".jp-RenderedMarkdown")
    hrefs = [a["href"] for a in content.find_all("a", href=True) if not a.get("class")]
    assert hrefs == ["01_second.html", "index.html"]


def test_every_figure_has_alt_text_from_the_figure_and_its_cell(site):
    out, _, _ = site
    alts = [img.get("alt", "") for img in _soup(out / "00_first.html").find_all("img")]
    assert len(alts) == 2
    assert all(alt.strip() and PLACEHOLDER not in alt for alt in alts)
    # the cell's "# extra code –" comment, then what the kernel read from the figure
    assert alts[0].startswith("A map and a curve. 2 panels")
    assert "“Grad-CAM bn2, espresso”" in alts[0]
    assert "probability against fraction deleted" in alts[0]
    assert alts[1] == "An image."


def test_a_widget_shows_a_note_not_its_text_form(site):
    out, _, _ = site
    page = _soup(out / "explorer.html")
    assert page.select_one(".course-note") is not None
    output = page.select_one(".jp-OutputArea").get_text()
    assert "IntSlider(value=3)" not in output and "when it runs in JupyterLab" in output


def _external(url: str) -> bool:
    return bool(re.match(r"\s*['\"]?\s*(https?:)?//", url, re.I))


def _css_references(css: str) -> list[str]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)  # comments may name web pages
    urls = re.findall(r"url\(([^)]*)\)", css, re.I)
    return urls + re.findall(r"@import\s+([^;]+);", css, re.I)


def _external_references(page: BeautifulSoup) -> list[str]:
    found = [s["src"] for s in page.find_all(["script", "img", "iframe"], src=True)]
    found += [link["href"] for link in page.find_all("link", href=True)]
    found += [url for style in page.find_all("style") for url in _css_references(style.get_text())]
    found += [u for tag in page.find_all(style=True) for u in _css_references(tag["style"])]
    found += [s.get_text() for s in page.find_all("script") if "import(" in s.get_text()]
    return [url for url in found if _external(url) or "import(" in url]


def test_no_page_fetches_a_script_style_or_font_from_the_network(site):
    out, _, _ = site
    pages = sorted(out.glob("*.html"))
    assert len(pages) == 5  # 3 notebooks, 1 solution, the index
    for path in pages:
        assert _external_references(_soup(path)) == [], path.name
    for css in out.glob("assets/*.css"):
        assert not any(_external(url) for url in _css_references(css.read_text())), css.name


def test_mathjax_is_served_from_the_site(site):
    out, _, _ = site
    scripts = [s["src"] for s in _soup(out / "00_first.html").find_all("script", src=True)]
    assert scripts == [builder.MATHJAX_URL]
    entry = out / builder.MATHJAX_URL.split("?")[0]
    config = builder.MATHJAX_URL.split("config=")[1].split(",")[0]
    assert entry.is_file() and (entry.parent / "config" / f"{config}.js").is_file()
    assert (entry.parent / "fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff").is_file()
    assert (entry.parent / "jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js").is_file()
    # a page without a formula loads no MathJax at all
    assert not _soup(out / "01_second.html").find_all("script", src=True)


def test_the_index_of_this_course_links_every_lesson(tmp_path):
    pages = builder.find_pages(ROOT / "notebooks")
    index = BeautifulSoup(builder.index_page(ROOT / "README.md", pages, tmp_path), "html.parser")
    links = {a["href"] for a in index.find_all("a", href=True)}
    assert {page.href for page in pages if not page.solution} <= links
    solutions = [page for page in pages if page.solution]  # reached from their lessons
    assert solutions and not {page.href for page in solutions} & links
    lessons = [page for page in pages if page.numbered]
    assert len(lessons) >= 9 and all(page.title[:2].isdigit() for page in lessons)
    assert index.find(id="glossary") is not None
    assert _external_references(index) == []


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install chromium): "
    "cannot check in a browser that MathJax typesets the formulas offline",
)
def test_mathjax_typesets_the_formulas_offline_in_chromium(site):
    out, _, _ = site
    with tempfile.TemporaryDirectory() as profile:
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
        command += ["--disable-background-networking", "--disable-component-update"]
        command += ["--disable-sync", f"--user-data-dir={profile}"]
        command += ["--virtual-time-budget=20000", "--dump-dom"]
        page = (out / "00_first.html").as_uri()
        dom = subprocess.run(command + [page], capture_output=True, text=True, timeout=120).stdout
    html = BeautifulSoup(dom, "html.parser")
    assert html.select(".MathJax_Display .MathJax"), "no typeset display formula"
    assert len(html.select("span.MathJax")) >= 2  # the display formula and $y^c$
    assert "$$" not in html.select_one(".jp-RenderedMarkdown").get_text()
    assert html.find(id="MathJax_Font_Warning") is None and "Math Processing Error" not in dom
    # MathJax adds its web fonts and extensions while the page loads: all from the site
    fonts = re.findall(r"url\(['\"]?([^'\")]+)", dom)
    assert any("STIXMathJax" in url for url in fonts)
    assert [url for url in fonts if _external(url)] == []
    assert all(not _external(s["src"]) for s in html.find_all("script", src=True))


def test_a_failing_cell_stops_the_build_with_its_error(tmp_path):
    (tmp_path / "notebooks").mkdir()
    cells = [nbformat.v4.new_code_cell("raise ValueError('the map is all zero')")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "notebooks" / "00_bad.ipynb")
    (tmp_path / "README.md").write_text(README)
    command = [sys.executable, str(ROOT / "site" / "build.py"), "--out", str(tmp_path / "out")]
    command += ["--notebooks", str(tmp_path / "notebooks"), "--readme", str(tmp_path / "README.md")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stdout == ""
    assert "00_bad.ipynb failed" in result.stderr and "the map is all zero" in result.stderr
    assert not (tmp_path / "out" / "00_bad.html").exists()
