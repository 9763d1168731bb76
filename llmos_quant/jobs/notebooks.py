"""Execute the project's notebooks into self-contained HTML reports (``llmos-quant notebooks render``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataNotFoundError, LLMOSQuantError, UsageError
from ..paths import REPO_DIR, data_dir

log = logging.getLogger(__name__)


class NotebookError(LLMOSQuantError):
    """A notebook raised while executing (exit 1): the message names the notebook and the failing cell."""


def default_notebook_dir() -> Path:
    return REPO_DIR / "notebooks" if (REPO_DIR / "notebooks").is_dir() else Path.cwd() / "notebooks"


@dataclass(frozen=True)
class RenderConfig:
    notebooks: Path = field(default_factory=default_notebook_dir)
    out: Path = field(default_factory=lambda: data_dir() / "notebooks")
    names: tuple[str, ...] = ()  # stems; empty = every notebook
    parameters: dict[str, Any] = field(default_factory=dict)  # papermill parameters given to every notebook
    kernel: str = "python3"
    timeout_s: int = 900  # per cell

    def __post_init__(self) -> None:
        if not Path(self.notebooks).is_dir():
            raise DataNotFoundError(f"notebook folder {self.notebooks} does not exist; pass --notebooks DIR (the "
                                    "checkout's notebooks/)")


@dataclass
class RenderedNotebook:
    name: str
    executed: Path  # the executed .ipynb (with outputs)
    html: Path  # self-contained HTML (plotly.js embedded, no CDN)
    figures: int  # plotly figure outputs
    seconds: float


def render_notebooks(config: RenderConfig) -> list[RenderedNotebook]:
    """Execute each notebook with papermill (offline SYNTHETIC defaults unless parameters say otherwise) and write
    the executed notebook and an HTML export (nbconvert's lab template) under ``config.out``."""
    try:
        import nbformat
        import papermill as pm
        from nbconvert import HTMLExporter
    except ImportError as exc:
        raise UsageError(f"rendering notebooks needs the notebooks extra ({exc.name or exc} is not installed): "
                         "pip install 'llmos-quant[notebooks]' (in a checkout: make setup)") from exc

    paths = sorted(Path(config.notebooks).glob("*.ipynb"))
    if config.names:
        wanted = set(config.names)
        unknown = sorted(wanted - {p.stem for p in paths})
        if unknown:
            raise UsageError(f"no notebook {unknown} in {config.notebooks}; have {[p.stem for p in paths]}")
        paths = [p for p in paths if p.stem in wanted]
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    done = []
    for path in paths:
        t0 = time.perf_counter()
        executed = out / path.name
        params = {k: v for k, v in config.parameters.items() if _has_parameter(path, k)}
        try:
            pm.execute_notebook(str(path), str(executed), parameters=params, kernel_name=config.kernel,
                                cwd=str(path.parent), progress_bar=False, execution_timeout=config.timeout_s)
        except pm.PapermillExecutionError as exc:
            raise NotebookError(f"notebook {path.name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}; "
                                f"the partly executed notebook is {executed}") from exc
        nb = nbformat.read(executed, as_version=4)
        body, _ = exporter.from_notebook_node(nb)
        html = executed.with_suffix(".html")
        html.write_text(body, encoding="utf-8")
        figures = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                      if "application/vnd.plotly.v1+json" in o.get("data", {}))
        done.append(RenderedNotebook(path.stem, executed, html, figures, time.perf_counter() - t0))
        log.info("rendered %s: %d figures in %.1fs", path.name, figures, done[-1].seconds)
    return done


def _has_parameter(path: Path, name: str) -> bool:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return any("parameters" in c.metadata.get("tags", []) and f"{name} =" in c.source for c in nb.cells)
