"""``gitfleet context TASK``: parse flags, call :func:`gitfleet.context.build_pack`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gitfleet.errors import optional


@click.command()
@click.argument("task")
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=6000,
    show_default=True,
    help="Most tokens the pack may take (estimated).",
)
@click.option("--offline", is_flag=True, help="Never call the Anthropic API.")
@click.option("--model", default=None, help="Claude model for the needs and the rerank.")
@click.option("--json", "as_json", is_flag=True, help="Print the ranking as JSON, not the pack.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the output to FILE instead of stdout.",
)
def context(
    task: str, budget: int, offline: bool, model: str | None, as_json: bool, out: Path | None
) -> None:
    """Build a context pack for TASK from the current git checkout.

    Retrieval runs offline (BM25 + symbol graph) and, with an Anthropic API key, lets
    Claude derive the task's needs and rerank the candidates.
    """

    context_engine = optional("gitfleet.context", "gitfleet context", "context")
    result = context_engine.build_pack(
        Path.cwd(), task, budget=budget, offline=True if offline else None, model=model
    )
    for warning in result.warnings:
        click.echo(f"gitfleet: warning: {warning}", err=True)
    text = json.dumps(result.to_json(), indent=2) + "\n" if as_json else result.markdown
    if out is not None:
        out.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=not text.endswith("\n"))
    if result.mode == "llm":
        click.echo(
            f"gitfleet: Claude used {result.llm_input_tokens} input + "
            f"{result.llm_output_tokens} output tokens in {result.llm_calls} calls",
            err=True,
        )
