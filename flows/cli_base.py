"""What every `mhpipe` command shares: the Typer app and its sub-apps, the consoles, the
common options, and the helpers that turn a refusal into one line on stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from pipeline.policy import PolicyError

def _flags_have_no_type() -> None:
    """Typer 0.29 with Click 8.5 shows every flag (`--json`, `--init`) as taking a `<bool>`
    value in --help, which it does not: show flags without a type."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_mhpipe", False):
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich._mhpipe = True
    TyperOption.display_type_rich = display_type_rich


_flags_have_no_type()

app = typer.Typer(
    help="mhpipe: privacy-preserving batch pipeline for mental-health chat logs.",
    no_args_is_help=True,
    add_completion=False,
    # Typer's pretty tracebacks print every frame's local variables by default: those could
    # hold message text, identifiers or key material. Never.
    pretty_exceptions_show_locals=False,
)
policy_app = typer.Typer(help="Data-steward tools for policies/*.yaml.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
keys_app = typer.Typer(help="Master key (KEK) management.", no_args_is_help=True)
vault_app = typer.Typer(help="Audited access to individual-level datasets.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Invalid input lines kept (encrypted) with their reasons.",
                             no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(keys_app, name="keys")
app.add_typer(vault_app, name="vault")
app.add_typer(audit_app, name="audit")
def _version(value: bool) -> None:
    if value:
        from pipeline.run.outputs import code_version

        # the package version and a digest of the library source: what `releases.code_version`
        # records, so a release can be traced to the code that built it
        typer.echo(f"mhpipe {code_version()}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print mhpipe's version (and source digest) and exit.")
          ) -> None:
    """mhpipe: privacy-preserving batch pipeline for mental-health chat logs."""


console = Console(stderr=True, soft_wrap=True)  # messages are never wrapped mid-path
out = Console()

RAW = typer.Option(Path("data/raw"), "--raw", help="Raw root: *.jsonl / *.jsonl.gz files under it.")
DATA = typer.Option(Path("data"), "--data", help="Data folder: vault, keys, audit, staging, orchestrator home.")
POLICIES = typer.Option(Path("policies"), "--policies", help="Folder of policy YAML files.")
PUBLISH = typer.Option(
    None, "--publish", envvar="MHPIPE_PUBLISH_DIR", show_default=False,
    help="Folder of the published research releases, which researchers read (outside the "
         "private data folder). Default: '<data folder>-published' next to the data folder.")


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _layout(data: Path, publish: Optional[Path] = None):
    """The data folder's layout; a publish folder inside the data folder stops here."""
    from pipeline.layout import Layout, LayoutError

    try:
        return Layout(data, publish)
    except LayoutError as exc:
        _fail(str(exc))


def _load_or_fail(folder: Path):
    from pipeline.policy import load_policy

    try:
        return load_policy(folder)
    except PolicyError as exc:
        for issue in exc.issues:
            console.print(f"[red]{issue}[/]")
        raise typer.Exit(1)
