"""Offline CLI verbs: they run the libraries directly, no stack needed."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from shotline.cli import app

console = Console()
models_app = typer.Typer(help="Model bundles.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@app.command()
def segment(
    file: Path = typer.Argument(..., exists=False, help="A video file"),
    keyframes_per_shot: int = typer.Option(3, min=1),
) -> None:
    """Detect shots in a video and print them as JSON (index, frames, ms, transition)."""
    from shotline.errors import BadInput
    from shotline.video.config import SegmenterConfig
    from shotline.video.shots import segment_video, shots_to_json

    try:
        result = segment_video(file, SegmenterConfig(keyframes_per_shot=keyframes_per_shot))
    except BadInput as e:
        console.print(f"[red]cannot segment {file}:[/red] {e.reason}: {e.message}")
        raise typer.Exit(2) from e
    print(json.dumps({"file": str(file), "fps": result.fps, "frames": result.frame_count,
                      "duration_ms": result.duration_ms, "shots": shots_to_json(result)}, indent=2))


@models_app.command("build-default")
def build_default(force: bool = typer.Option(False, "--force")) -> None:
    """Build the offline default bundle from packaged weights (idempotent, cached)."""
    from shotline.models.build_default import build_default_bundle

    print(build_default_bundle(force=force))


@models_app.command("export-clip")
def export_clip(
    model: str = typer.Argument(..., help="OpenCLIP architecture, e.g. ViT-B-32"),
    pretrained: str = typer.Argument(..., help="OpenCLIP pretrained tag, e.g. laion2b_s34b_b79k"),
    out: Path = typer.Argument(..., help="Bundle directory to write"),
) -> None:
    """Export an OpenCLIP model (downloads weights: needs network) into a bundle."""
    from shotline.models.export_clip import export_openclip

    print(export_openclip(model, out, pretrained=pretrained))


@app.command()
def rank(
    files: list[Path] = typer.Argument(..., help="Images or videos"),
    prompt: list[str] = typer.Option(..., "--prompt", "-p", help="Text prompts (repeat)"),
    bundle: Path | None = typer.Option(None, help="Model bundle (default: the offline default)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Prompt × image similarity table for sanity-checking a model bundle."""
    from shotline.models.build_default import default_bundle_path
    from shotline.models.rank import rank as rank_fn
    from shotline.models.runtime import load_bundle

    model = load_bundle(bundle or default_bundle_path())
    out = rank_fn(model, prompt, files)
    if as_json:
        print(json.dumps(out))
        return
    table = Table("prompt", *[Path(i).name for i in out["images"]])
    for p, row in zip(out["prompts"], out["scores"], strict=True):
        best = max(range(len(row)), key=row.__getitem__)
        table.add_row(p, *[f"[bold]{v:.3f}[/bold]" if i == best else f"{v:.3f}" for i, v in enumerate(row)])
    console.print(table)
