"""``sc-asterisk audio``: import prompts (converted for Asterisk) and list them."""
from __future__ import annotations

from pathlib import Path

import click

from .. import audio as audio_lib
from .common import Context, cli, pass_context
from .listing import Listing, attach


@cli.group()
def audio() -> None:
    """Prompts: any WAV/MP3/OGG becomes mono 16-bit 8 kHz WAV, loudness-normalised.

    Example: sc-asterisk audio import message.mp3 --name message
    """


@audio.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", required=True, metavar="NAME",
              help="Prompt name: 1-63 of a-z 0-9 _ -, starting with a letter or digit.")
@click.option("--replace", is_flag=True, help="Overwrite an existing prompt of that name.")
@pass_context
def import_(ctx: Context, file: Path, name: str, replace: bool) -> None:
    """Convert FILE and store it as the prompt NAME (same content again: nothing changes).

    Example: sc-asterisk audio import notice.wav --name notice --replace
    """
    audio_lib.validate_name(name)  # fail on a bad name before opening the database
    with ctx.db().session() as s:
        before = audio_lib.find_asset(s, name)
        before_sha = before.sha256 if before is not None else None
        asset = audio_lib.import_audio(s, file, name, replace=replace)
        if before_sha is None:
            status = "imported"
        elif before_sha == asset.sha256:
            status = "unchanged"
        else:
            status = "replaced"
        click.echo(f"{status} {asset.name}: {asset.duration_ms} ms, sha256 {asset.sha256[:16]}")


def _audio_table(assets: list) -> list[str]:
    width = max(len("name"), *(len(a.name) for a in assets))
    return [f"{'name':<{width}}  {'ms':>7}  {'sha256':<16}  source"] + [
        f"{a.name:<{width}}  {a.duration_ms:>7}  {a.sha256[:16]:<16}  {a.source_filename}"
        for a in assets]


attach(audio, Listing(
    "audio", audio_lib.list_assets, _audio_table,
    "no audio yet (sc-asterisk audio import FILE --name NAME)", empty_to_stderr=True,
    list_doc="List the stored prompts: name, duration, content hash prefix, source file.\n\n"
             "Example: sc-asterisk audio list"))
