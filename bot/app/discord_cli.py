"""`easel discord commands` and `easel discord register [--guild ID]`.

The slash-command definitions live in appmanifest/discord-commands.json (Discord's own
JSON, reviewed like any other manifest). `register` bulk-overwrites them with one PUT, so
commands removed from the file disappear from Discord too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from bot.app.settings import Settings, SettingsError, load_settings
from bot.channels.discord_api import DiscordAPI, DiscordError, DiscordHTTPError
from bot.errors import EaselError

COMMANDS_FILE = Path(__file__).resolve().parents[2] / "appmanifest" / "discord-commands.json"


class RegisterError(EaselError):
    """Registration cannot go ahead; the message says what to fix."""


class MissingCredentials(RegisterError):
    pass


def load_commands(path: Path = COMMANDS_FILE) -> list[dict[str, Any]]:
    try:
        commands = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegisterError(f"{path} is missing (it ships with the easel sources)") from None
    if not isinstance(commands, list) or not all(isinstance(c, dict) and c.get("name")
                                                 for c in commands):
        raise RegisterError(f"{path} must be a JSON list of application command objects")
    return commands


async def register(settings: Settings, guild_id: str | None = None, *,
                   commands: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    missing = [name for name, value in (("DISCORD_APPLICATION_ID", settings.discord_application_id),
                                        ("DISCORD_BOT_TOKEN", settings.discord_bot_token))
               if not value]
    if missing:
        raise MissingCredentials(f"set {' and '.join(missing)} (Discord developer portal → your "
                            "application: 'Application ID' on General Information, 'Token' "
                            "on Bot)")
    commands = load_commands() if commands is None else commands
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        api = DiscordAPI(session, settings.discord_api_base, bot_token=settings.discord_bot_token)
        try:
            return await api.put_commands(settings.discord_application_id, commands, guild_id)
        except DiscordHTTPError as exc:
            hint = {401: " — check DISCORD_BOT_TOKEN",
                    403: " — is the bot in that server (invite it with the "
                         "applications.commands scope)?",
                    404: " — check DISCORD_APPLICATION_ID and the guild id"}.get(exc.status, "")
            raise RegisterError(f"Discord refused the commands: {exc}{hint}") from None
        except DiscordError as exc:
            raise RegisterError(f"could not reach Discord: {exc}") from None


def cmd_commands(args: argparse.Namespace) -> int:
    try:
        print(json.dumps(load_commands(), indent=2, ensure_ascii=False))
    except RegisterError as exc:
        print(f"easel: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        done = asyncio.run(register(settings, args.guild))
    except (SettingsError, RegisterError) as exc:
        print(f"easel: {exc}", file=sys.stderr)
        # 2: configuration to fix (like every other easel command); 1: Discord said no.
        return 2 if isinstance(exc, (SettingsError, MissingCredentials)) else 1
    names = ", ".join("/" + str(c.get("name")) for c in done)
    where = f"in server {args.guild} (available now)" if args.guild else \
        "globally (all servers and DMs with the app)"
    print(f"registered {len(done)} commands {where}: {names}")
    return 0


def add_discord_parser(sub: Any) -> None:
    """Adds `easel discord commands|register` to the CLI's subparsers."""
    d = sub.add_parser("discord", help="Discord slash commands")
    dsub = d.add_subparsers(dest="discord_command", required=True)
    c = dsub.add_parser("commands", help="print the slash-command definitions (Discord JSON)")
    c.set_defaults(func=cmd_commands)
    r = dsub.add_parser("register", help="register the slash commands with Discord")
    r.add_argument("--guild", default=None, metavar="ID",
                   help="register in one server only (instant; handy while testing)")
    r.set_defaults(func=cmd_register)
