"""``rotoflow models``: list, pull, verify and add the weights of the local model store.

Errors caused by the input (an unknown model name, a folder that is missing or not a complete
model) print one line on stderr and exit with status 2; a failed pull or verification exits with
status 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models.store import CATALOG, SINGLE_FILE_KINDS, ModelStore
from rotoflow.errors import ModelNotAvailable

models_app = typer.Typer(
    no_args_is_help=True,
    help="The local model store: list, pull, verify and add model weights.",
)
out = Console()
err = Console(stderr=True)

EXIT_INPUT = 2
EXIT_FAILURE = 1

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="Model store folder (default: ROTOFLOW_MODEL_DIR, else <home>/models)."
    ),
]


def _fail(message: str, code: int) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _store(directory: Path | None) -> ModelStore:
    store = ModelStore.from_settings()
    if directory is not None:
        store.root = directory
    return store


def _check_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in CATALOG]
    if unknown:
        _fail(
            f"unknown model {', '.join(map(repr, unknown))}; choose one of: {', '.join(CATALOG)}",
            EXIT_INPUT,
        )


@models_app.command("list")
def list_models(directory: DirOption = None) -> None:
    """Every model Rotoflow knows, whether it is staged, and its version."""
    store = _store(directory)
    t = Table(title=f"Model store {store.root}")
    t.add_column("model", no_wrap=True)
    t.add_column("stages")
    t.add_column("status", no_wrap=True)
    t.add_column("version", no_wrap=True)
    t.add_column("repository", overflow="fold")
    for row in store.list():
        t.add_row(
            row["name"],
            ", ".join(row["stages"]),
            "[green]staged[/]" if row["staged"] else "[yellow]missing[/]",
            row["version"] or "",
            row["origin"],
        )
    out.print(t)


@models_app.command()
def pull(
    names: Annotated[list[str] | None, typer.Argument(help="Model names (see `list`).")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Pull every model.")] = False,
    directory: DirOption = None,
    revision: Annotated[
        str | None, typer.Option(help="Branch, tag or commit (one model only).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Pull again models already staged.")] = False,
) -> None:
    """Download models from the Hugging Face hub (or their GitHub release) into the store."""
    wanted = list(CATALOG) if all_models else list(dict.fromkeys(names or []))
    if not wanted:
        _fail("name at least one model (see `rotoflow models list`) or give --all", EXIT_INPUT)
    _check_names(wanted)
    if revision is not None and len(wanted) > 1:
        _fail("--revision applies to one model; name only one", EXIT_INPUT)
    store = _store(directory)
    for name in wanted:
        if not force and revision is None and store.is_staged(name):
            out.print(
                f"{name}: already staged in {store.path(name)}", highlight=False, soft_wrap=True
            )
            continue
        try:
            with err.status(f"pulling {name} ...", spinner="dots"):
                staged = store.pull(name, revision=revision)
        except ModelNotAvailable as exc:
            _fail(str(exc), EXIT_FAILURE)
        except OSError as exc:
            _fail(f"cannot write {store.path(name)}: {exc}", EXIT_FAILURE)
        out.print(
            f"{name}: pulled {staged.version} into {staged.path}", highlight=False, soft_wrap=True
        )


@models_app.command()
def verify(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Model names (default: every model with a folder in the store)."),
    ] = None,
    directory: DirOption = None,
) -> None:
    """Re-hash model folders against their manifests; exit 1 when anything is wrong."""
    wanted = list(dict.fromkeys(names or []))
    _check_names(wanted)
    store = _store(directory)
    if not wanted:
        wanted = [n for n in CATALOG if store.path(n).is_dir()]
        if not wanted:
            out.print(f"no models in {store.root}", highlight=False, soft_wrap=True)
            return
    t = Table(title=f"Model store {store.root}")
    t.add_column("model", no_wrap=True)
    t.add_column("result", no_wrap=True)
    t.add_column("problems", overflow="fold")
    failed = 0
    for name in wanted:
        problems = store.verify(name)
        failed += bool(problems)
        t.add_row(name, "[red]FAILED[/]" if problems else "[green]ok[/]", "\n".join(problems) or "")
    out.print(t)
    if failed:
        _fail(f"{failed} of {len(wanted)} models failed verification", EXIT_FAILURE)


@models_app.command()
def add(
    name: Annotated[str, typer.Argument(help="Model name (see `list`).")],
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder laid out as the hub repository (or save_pretrained); for a one-file "
            "model (yolox-nano, SAM 2) the weights file will do."
        ),
    ],
    directory: DirOption = None,
    revision: Annotated[
        str, typer.Option(help="Revision to record (default: the folder's manifest, or 'local').")
    ] = "local",
    skip_staged: Annotated[
        bool, typer.Option("--skip-staged", help="Do nothing when the model is already staged.")
    ] = False,
) -> None:
    """Copy a model folder (a pulled model carried over, a test model) into the store."""
    _check_names([name])
    single = CATALOG[name].kind in SINGLE_FILE_KINDS
    if not folder.is_dir() and not (single and folder.is_file()):
        also = f" or a {CATALOG[name].weights} file" if single else ""
        _fail(f"{folder} is not a folder{also}", EXIT_INPUT)
    store = _store(directory)
    if skip_staged and store.is_staged(name):
        out.print(f"{name}: already staged in {store.path(name)}", highlight=False, soft_wrap=True)
        return
    try:
        staged = store.add(name, folder, revision=revision)
    except ModelNotAvailable as exc:
        _fail(str(exc), EXIT_INPUT)
    except OSError as exc:
        _fail(f"cannot copy {folder} into {store.path(name)}: {exc}", EXIT_FAILURE)
    out.print(f"{name}: added {staged.version} at {staged.path}", highlight=False, soft_wrap=True)
