"""`tutor model list | pull NAME | use NAME|PATH` (registered into the main app by cli.py)."""

from __future__ import annotations

import json
import os
import sys

import typer

from tutor.config import Settings
from tutor.serve.models import ModelStore, info_dict


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def register(app: typer.Typer) -> None:
    model = typer.Typer(no_args_is_help=True, help="Chat models: list installed GGUFs, download a tested one, choose which to use.")

    @model.command("list")
    def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
        """Installed GGUFs (default SmolLM2 + the models dir) with size, quantization, chat
        template and context length from GGUF metadata; then registry models to pull."""
        store = ModelStore(Settings())
        infos = store.installed()
        reg = store.registry()
        have = {i.registry for i in infos if i.registry}
        if as_json:
            _print_json({"models_dir": str(store.dir), "installed": [info_dict(i) for i in infos],
                         "available": [{"name": e.name, "repo": e.repo, "filename": e.filename, "size_gb": e.size_gb,
                                        "sha256": e.sha256, "notes": e.notes} for e in reg.values() if e.name not in have]})
            return
        typer.echo(f"models dir: {store.dir}")
        for i in infos:
            mark = "*" if i.active else " "
            label = i.registry or i.name
            if i.error:
                typer.echo(f"{mark} {label:24s} {i.size_mb:8.1f} MiB  unreadable: {i.error}")
                continue
            tmpl = "chat template" if i.chat_template else "NO chat template"
            ctx = f"ctx {i.context_length}" if i.context_length else "ctx ?"
            extra = " (default)" if i.default else ""
            typer.echo(f"{mark} {label:24s} {i.size_mb:8.1f} MiB  {i.quantization or '?':8s} {ctx:10s} {tmpl}{extra}  {i.path}")
        missing = [e for e in reg.values() if e.name not in have]
        if missing:
            typer.echo("available (tutor model pull NAME):")
            for e in missing:
                typer.echo(f"  {e.name:24s} {e.size_gb:5.2f} GB  {e.notes}")
        typer.echo("* = in use; change with `tutor model use NAME|PATH`")

    @model.command("pull")
    def pull(name: str = typer.Argument(..., help="Registry name, e.g. qwen2.5-1.5b (see `tutor model list`)."),
             use: bool = typer.Option(False, "--use", help="Also make it the model in use.")):
        """Download a registry model into the models dir (resumable; SHA-256 verified)."""
        store = ModelStore(Settings())
        path = store.pull(name, progress=True, log=lambda m: typer.echo(m, err=True))
        typer.echo(f"{name}: {path}")
        if use:
            store.use(name)
            typer.echo(f"now using {path} (written to {store.toml_path()})")
        else:
            typer.echo(f"use it with: tutor model use {name}")

    @model.command("use")
    def use(target: str = typer.Argument(..., help="Registry name, GGUF path, file in the models dir, or 'default'.")):
        """Choose the chat model: writes model_path to tutor.toml in the data dir."""
        store = ModelStore(Settings())
        path = store.use(target)
        typer.echo(f"now using {path or 'the default SmolLM2-135M'} (written to {store.toml_path()})")
        if os.environ.get("TUTOR_MODEL_PATH"):
            typer.echo("warning: TUTOR_MODEL_PATH is set in the environment and overrides tutor.toml", err=True)

    app.add_typer(model, name="model")
