"""The `easel` command: serve, chat, imagine, demo-model."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.app.cli_logging import setup_logging
from bot.app.discord_cli import add_discord_parser
from bot.app.keys_cli import add_parser as add_keys_parser
from bot.app.manifest import ManifestError, build_package
from bot.app.mcp_cli import add_parser as add_mcp_parser
from bot.app.ray_cli import add_parser as add_ray_parser
from bot.app.settings import Settings, SettingsError, load_settings
from bot.errors import ConfigError
from bot.turn import ReplyKind, Turn
from imaging.demo.cli import add_parser as add_demo_model_parser
from imaging.engine import EngineLoadError
from imaging.jobs import JobEvent, JobQueued
from imaging.provenance.cli import add_parser as add_provenance_parser

if TYPE_CHECKING:  # the services pull in torch: imported lazily, where a command needs them
    from bot.app.services import Services

log = logging.getLogger("easel")


def _settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"easel: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    # lazy: torch and the services load only for the command that needs them
    from bot.app.server import create_app

    settings = _settings_or_exit()
    try:
        app = create_app(settings)
    except ConfigError as exc:
        print(f"easel: {exc}", file=sys.stderr)
        return 2
    try:
        web.run_app(app, host=args.host, port=args.port, print=None,
                    access_log=None if not args.access_log else logging.getLogger("aiohttp.access"))
    except EngineLoadError as exc:
        print(f"easel: {exc}", file=sys.stderr)
        return 1
    return 0


async def _local_services(settings: Settings) -> Services:
    # lazy: torch and the services load only for the command that needs them
    from bot.app.engines import load_engines
    from bot.app.services import build_services, load_brain  # lazy: (as above)

    try:
        engine = await asyncio.to_thread(load_engines, settings)
        brain = await asyncio.to_thread(load_brain, settings)
    except EngineLoadError as exc:
        print(f"easel: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except ValueError as exc:  # a brain that cannot be built from the settings
        print(f"easel: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return build_services(settings, engine, brain)


def _imagine_text(args: argparse.Namespace) -> str:
    parts = ["/imagine"]
    if args.n:
        parts += ["--n", str(args.n)]
    if args.size:
        parts += ["--size", args.size]
    if args.seed is not None:
        parts += ["--seed", str(args.seed)]
    if args.raw:
        parts.append("--raw")
    return " ".join(parts) + " " + args.prompt


def _out_paths(out: Path, n: int) -> list[Path]:
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix or '.png'}") for i in range(1, n + 1)]


async def _imagine(args: argparse.Namespace) -> int:

    settings = _settings_or_exit()
    svc = await _local_services(settings)
    try:
        turn = Turn(channel="cli", conversation_id="cli", user_id="cli", text=_imagine_text(args))
        response = await svc.assistant.respond(turn)
        if response.followup is None:
            assert response.immediate is not None
            print(response.immediate.text, file=sys.stderr)
            return 1 if response.immediate.kind is ReplyKind.ERROR else 0
        reply = await response.followup(None)
        if reply.kind is not ReplyKind.IMAGES:
            print(reply.text, file=sys.stderr)
            return 1
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        for img, path in zip(reply.images, _out_paths(out, len(reply.images)), strict=True):
            data = await svc.store.read(img.image_id)
            assert data is not None
            if path.suffix.lower() in (".png", ""):
                path.write_bytes(data)
            else:  # let PIL convert to the format the file name asks for
                import io

                from PIL import Image

                with Image.open(io.BytesIO(data)) as im:
                    im.convert("RGB").save(path)
            print(f"{path}  (seed {img.seed}, {img.width}x{img.height})")
        print(f"prompt used: {reply.prompt}")
        return 0
    finally:
        await svc.aclose()


async def _chat(verbose: bool = False) -> int:
    # lazy: torch and the services load only for the command that needs them
    from bot.app.engines import DEMO_CHAT_NOTE

    settings = _settings_or_exit()
    # Only the conversation shows in the chat; log records go to a file.
    setup_logging(verbose, settings.data_dir / "easel-chat.log")
    print("easel chat — type /help for commands, Ctrl-D to quit.")
    svc = await _local_services(settings)
    if settings.image_model is None:
        print(f"easel> note: {DEMO_CHAT_NOTE}")
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                print()
                return 0
            if not line.strip():
                continue
            response = await svc.assistant.respond(
                Turn(channel="cli", conversation_id="terminal", user_id="terminal", text=line))
            if response.immediate is not None:
                print(f"easel> {response.immediate.text}")
            if response.followup is None:
                continue

            async def progress(event: JobEvent) -> None:
                if isinstance(event, JobQueued):
                    status = f"#{event.position} in line, about {event.eta_s:.0f} s"
                else:
                    status = f"step {event.step}/{event.total}"
                print(f"\r  … {status}\033[K", end="", flush=True)

            reply = await response.followup(progress)
            print("\r\033[K", end="", flush=True)  # the progress line gives way to the reply
            if reply.kind is ReplyKind.IMAGES:
                for img in reply.images:
                    print(f"easel> saved {await _local_path(svc, img.image_id)} (seed {img.seed})")
                print(f"       prompt used: {reply.prompt}")
            else:
                print(f"easel> {reply.text}")
    finally:
        await svc.aclose()


async def _local_path(svc: Services, image_id: str) -> Path:
    """Where the user can open the image: its file, or a copy when images live in Redis."""
    path = svc.store.path_for(image_id)
    if path is not None:
        return path
    out = svc.settings.data_dir / "chat" / f"{image_id}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(await svc.store.read(image_id) or b"")
    return out


def cmd_manifest_build(args: argparse.Namespace) -> int:
    try:
        out = build_package(args.app_id, args.public_url, Path(args.out))
    except ManifestError as exc:
        print(f"easel manifest build: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}; upload it in Teams: Apps → Manage your apps → Upload an app")
    return 0


def cmd_safety_check(args: argparse.Namespace) -> int:
    # lazy: torch and the services load only for the command that needs them
    from safety.cli import run_check

    return run_check(strictness=args.strictness)


def cmd_safety_eval(args: argparse.Namespace) -> int:
    # lazy: torch and the services load only for the command that needs them
    from safety.cli import run_eval

    if not Path(args.file).is_file():
        print(f"easel safety eval: no such file {args.file}", file=sys.stderr)
        return 2
    return run_eval(args.file, strictness=args.strictness)


def _provenance_config(settings: Settings):  # noqa: ANN202 (imports stay lazy)
    # lazy: torch and the services load only for the command that needs them
    from bot.app.services import provenance_config

    return provenance_config(settings)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="easel", description="easel: an image assistant for chat")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the HTTP server (Teams, health, images)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=3978)
    s.add_argument("--access-log", action="store_true", help="log every HTTP request")
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("chat", help="chat with easel in this terminal")
    c.add_argument("-v", "--verbose", action="store_true", dest="chat_verbose",
                   help="show log records here (otherwise: EASEL_DATA_DIR/easel-chat.log)")
    c.set_defaults(func=lambda a: asyncio.run(_chat(a.verbose or a.chat_verbose)))

    i = sub.add_parser("imagine", help="make an image and save it")
    i.add_argument("prompt")
    i.add_argument("-o", "--output", default="easel.png")
    i.add_argument("--n", type=int, default=None)
    i.add_argument("--size", default=None, help="WIDTHxHEIGHT, e.g. 512x512")
    i.add_argument("--seed", type=int, default=None)
    i.add_argument("--raw", action="store_true", help="use the prompt exactly as written")
    i.set_defaults(func=lambda a: asyncio.run(_imagine(a)))

    m = sub.add_parser("manifest", help="the Teams app package")
    msub = m.add_subparsers(dest="manifest_command", required=True)
    mb = msub.add_parser("build", help="write the Teams app package (manifest + icons) as a zip")
    mb.add_argument("--app-id", required=True, help="the bot's Microsoft App ID (a GUID)")
    mb.add_argument("--public-url", default=None, help="https base URL of this server")
    mb.add_argument("--out", required=True, help="the .zip file to write")
    mb.set_defaults(func=cmd_manifest_build)

    sf = sub.add_parser("safety", help="the safety gate's text classifier")
    sfs = sf.add_subparsers(dest="safety_command", required=True)
    sc = sfs.add_parser("check", help="one text per stdin line -> one JSON verdict per line")
    sc.add_argument("--strictness", default=None, help="relaxed | standard | strict")
    sc.set_defaults(func=cmd_safety_check)
    se = sfs.add_parser("eval", help="precision / recall / false-positive rate per category")
    se.add_argument("file", help="JSONL ({text, categories}) or CSV/TSV with a prompt column")
    se.add_argument("--strictness", default=None)
    se.set_defaults(func=cmd_safety_eval)

    add_discord_parser(sub)
    add_mcp_parser(sub, _settings_or_exit, _local_services)
    add_keys_parser(sub, _settings_or_exit)

    add_demo_model_parser(sub)

    add_ray_parser(sub, _settings_or_exit)

    # lazy: torch and the services load only for the command that needs them
    from bot.app.arena_cli import add_parser as add_arena_parser

    add_arena_parser(sub)

    add_provenance_parser(sub, lambda: _provenance_config(_settings_or_exit()))
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "chat":  # the chat sets up its own, once it knows the data dir
        setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
