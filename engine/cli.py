"""The ``mail2dataverse`` command: a thin layer that turns options into library calls.

Exit status (README and docs/sync.md list them): 0 success; 1 some records failed or the run
stopped part-way (the report says which); 2 usage, configuration, credentials, an unreachable
org or unreadable input (nothing was written); 3 a mapping or plugin error skipped every record
of a table; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM). ``doctor`` exits 1 when a check
fails. Errors are one line on stderr, never a traceback, and never contain a secret or a token.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, masking
from .clihelp import help_for
from .errors import AuthError, ConfigError, Mail2DataverseError, MappingError, SourceError

PROG = "mail2dataverse"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


class Terminated(BaseException):
    """SIGTERM arrived: unwinds the run like Ctrl-C does, so state and report are saved.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` on the way swallows it.
    """


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _logging_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    # Declared on the main parser and on every subcommand, so `-v` works before or after the
    # command; a subcommand's default is SUPPRESS so it never resets what the main one set.
    default = {} if top else {"default": argparse.SUPPRESS}
    p.add_argument("-v", "--verbose", action="count", help="more log lines on stderr (-vv for debug)",
                   **({"default": 0} if top else default))
    p.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr: no progress, no warnings",
                   **({"default": False} if top else default))
    p.add_argument("--log-format", choices=["text", "json"], help="log lines as text (default) or one JSON object each",
                   **({"default": "text"} if top else default))


def _input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--messages", metavar="FILE", help="messages: Nylas CLI JSON/NDJSON file, mbox, EML folder, or - for stdin")
    p.add_argument("--contacts", metavar="FILE", help="contacts: Nylas CLI JSON/NDJSON file, or - for stdin")
    p.add_argument("--input-format", dest="input_format", metavar="FORMAT",
                   help="input format: json, ndjson, mbox, eml, or another source plugin's name (default: detect)")
    p.add_argument("--from-nylas", nargs="?", const="", metavar="GRANT", help="run the nylas CLI to export messages and contacts (optional grant id)")
    p.add_argument("--with-headers", action="store_true", help="with --from-nylas: fetch each message's headers so the real Message-ID is its identity")
    p.add_argument("--limit", type=int, metavar="N", help="at most N messages, the newest (with --from-nylas: of the export; preview: also the first N records of a file)")
    p.add_argument("--contacts-source", metavar="S[,S]", help="with --from-nylas: contact sources, e.g. address_book,inbox (default: address_book)")
    p.add_argument("--config", metavar="FILE", help="run configuration (YAML); see schemas/config.schema.json")
    p.add_argument("--mappings", metavar="DIR", action="append", default=[], help="folder of mapping files that override or extend the defaults")


PREVIEW_FORMATS = ("json", "ndjson", "yaml", "table", "html")


def _org_options(p: argparse.ArgumentParser, *, preview: bool) -> None:
    what = "read it (lookups only, never a write) to show what would change" if preview else "e.g. https://contoso.crm.dynamics.com (env DATAVERSE_URL or DYNAMICS_ORG)"
    p.add_argument("--url", help=f"the org: {what}")
    p.add_argument("--auth", choices=["secret", "certificate", "none"], help="how to get a token: msal with AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, or none (DATAVERSE_TOKEN, or a placeholder for the emulator); default: MAIL2DATAVERSE_AUTH, else certificate if AZURE_CLIENT_CERTIFICATE_PATH is set, else secret")
    p.add_argument("--ca-file", metavar="PEM", help="trust this CA (e.g. the emulator's --tls CA)")


def _selection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", choices=["contacts", "accounts", "emails"], help="show only this table (the summary still counts all)")
    p.add_argument("--sample", type=int, metavar="N", help="plan N records picked at random (seeded, see --seed) instead of all")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="the seed of --sample (default 0)")
    p.add_argument("--where", metavar="EXPR", help="plan only the source records for which this JMESPath expression is true")
    p.add_argument("--output", "-o", metavar="FILE", help="write the preview to FILE instead of stdout")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(prog=PROG, description="Write Nylas CLI email and contact exports into Dynamics 365 / Dataverse.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _logging_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_parser = sub.add_parser

    def add_command(name: str, **kwargs):
        # Every command's --help has a description and examples (engine/clihelp.py).
        kwargs.update(help_for(name), formatter_class=argparse.RawDescriptionHelpFormatter)
        p = add_parser(name, **kwargs)
        _logging_options(p, top=False)
        return p

    # Every subcommand, including one added later in this function, takes -v/-q/--log-format.
    sub.add_parser = add_command  # type: ignore[method-assign]

    p = sub.add_parser("validate", help="check mapping files (and a config file) and print every problem")
    p.add_argument("paths", nargs="*", metavar="FILE|DIR", help="mapping files or folders (default: the shipped mappings)")
    p.add_argument("--config", metavar="FILE", help="also validate this run configuration")

    p = sub.add_parser("preview", help="show what a sync would change, record by record (against an empty org, or read-only against --url)")
    _input_options(p)
    _org_options(p, preview=True)
    _selection_options(p)
    p.add_argument("--format", choices=PREVIEW_FORMATS, default="json", help="output format (default json)")
    p.add_argument("--report", metavar="FILE", help="also write the dry run's JSON report (with the resolution report) to FILE")
    p.add_argument("--summary", action="store_true", help="print the dry-run summary to stderr as well")

    p = sub.add_parser("sync", help="write contacts, accounts and emails to a Dataverse org")
    _input_options(p)
    _org_options(p, preview=False)
    p.add_argument("--report", metavar="FILE", help="write the JSON run report to FILE (replaced when the run starts and "
                                                   "again when it ends, however it ends; also with --dry-run)")
    p.add_argument("--state", metavar="FILE", default=os.environ.get("MAIL2DATAVERSE_STATE", "m2d-state.sqlite3"), help="SQLite state file (default m2d-state.sqlite3)")
    p.add_argument("--full", action="store_true", help="ignore the incremental coverage and consider every message")
    p.add_argument("--dry-run", action="store_true", help="print what preview prints and write nothing (with --url: read-only against that org)")
    p.add_argument("--format", choices=["text", *PREVIEW_FORMATS], default=None,
                   help="the summary as text (default) or json; with --dry-run, the preview as json (default), ndjson, yaml, table or html")
    _selection_options(p)
    p.add_argument("--max-retries", type=int, default=8, metavar="N",
                   help="resends after throttling (429), 502/503/504, timeouts and dropped connections (default 8)")

    p = sub.add_parser("doctor", help="check a set-up before the first sync: org, token, privileges, mappings, Nylas CLI")
    from .doctor.cli import add_arguments as doctor_arguments

    doctor_arguments(p)

    p = sub.add_parser("emulator", help="run the local Dataverse Web API emulator")
    from .emulator.cli import add_arguments as emulator_arguments

    emulator_arguments(p)

    p = sub.add_parser("plugins", help="list installed plugins and their hooks")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--external", action="store_true", help="only installed (non built-in) plugins")
    p.add_argument("--hook", metavar="NAME", help="only plugins implementing this hook")
    p.add_argument("--config", metavar="FILE", help="apply this run configuration's plugins.disable")

    p = sub.add_parser("demo", help="sync the bundled sample mailbox into an embedded emulator and show the result")
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("schema", help="where the mapping and config JSON Schemas are, for editor completion; --write copies them")
    p.add_argument("--write", metavar="DIR", help="write mapping.schema.json and config.schema.json into DIR "
                                                  "(beside your mappings), transform names included")
    p.add_argument("--config", metavar="FILE", help="apply this run configuration's plugins.disable to the transform names")

    p = sub.add_parser("scaffold", help="write deployment templates: an Azure Functions app or a Power Automate flow")
    p.add_argument("target", choices=["azure-function", "power-automate"], help="what to write")
    p.add_argument("path", metavar="PATH", help="folder (azure-function) or file (power-automate) to write")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--mappings", metavar="DIR", help="azure-function: copy your mapping folder into the app (m2d/mappings)")
    p.add_argument("--config", metavar="FILE", help="azure-function: copy your run configuration into the app (m2d/config.yaml)")
    p.add_argument("--wheel", metavar="WHL", action="append", default=[],
                   help="azure-function: ship this wheel in wheels/ and install it from requirements.txt "
                        "(mail2dataverse's own wheel, or a plugin package's); repeatable")
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    from .logs import configure

    configure(verbose=args.verbose, quiet=args.quiet, fmt=args.log_format)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (an embedding host): SIGTERM stays theirs
        pass
    try:
        code, error = _run(args)
        run = getattr(args, "runfile", None)
        if run is not None:
            try:
                run.finish(code, error)
            except OSError as exc:
                print(f"{PROG}: error: could not write the report {run.path}: {exc}", file=sys.stderr)
                code = code or EXIT_FAILED
        return code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> tuple[int, str | None]:
    """The command's exit status and the one-line error that ended it (printed to stderr)."""
    def error(code: int, message: str) -> tuple[int, str]:
        print(f"{PROG}: {message}", file=sys.stderr)
        return code, message

    try:
        return COMMANDS[args.command](args), None
    except MappingError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE, "; ".join(str(p) for p in exc.problems[:5])
    except (ConfigError, SourceError, AuthError) as exc:
        # Nothing was written: the inputs, the settings, the credentials or the org are wrong.
        return error(EXIT_USAGE, f"error: {masking.scrub(str(exc))}")
    except Mail2DataverseError as exc:
        return error(EXIT_FAILED, f"error: {masking.scrub(str(exc))}")
    except KeyboardInterrupt:
        return error(EXIT_INTERRUPTED, "interrupted; what was written is in the state file, re-run to continue")
    except Terminated:
        return error(EXIT_TERMINATED, "terminated (SIGTERM); what was written is in the state file, re-run to continue")
    except BrokenPipeError:
        return EXIT_OK, None


# ---------------------------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_config
    from .mapper import validate_paths

    from .pluginmanager import Plugins, make_plugin_manager

    paths = [Path(p) for p in args.paths]
    if not paths:
        from importlib import resources

        paths = [Path(str(resources.files("mail2dataverse.mappings")))]
    problems = []
    config = None
    if args.config:
        try:
            config = load_config(args.config)
        except MappingError as exc:
            problems.extend(exc.problems)
    # The transforms and functions a mapping may name depend on the plugins the run loads.
    plugins = Plugins(make_plugin_manager(disable=config.plugins_disable), config) if config is not None else None
    problems[:0] = validate_paths(paths, plugins=plugins)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", file=sys.stderr)
        return EXIT_USAGE
    print("ok: " + ", ".join(str(p) for p in paths) + (f", {args.config}" if args.config else ""))
    return EXIT_OK


def _inputs(args: argparse.Namespace, *, preview: bool = False):
    from .sync import Inputs

    nylas = args.from_nylas is not None
    if not nylas and not (args.messages or args.contacts):
        raise ConfigError("give --messages and/or --contacts (files, or - for stdin), or --from-nylas")
    # A flag that would be silently ignored is a mistake worth stopping for.
    if nylas and (args.messages or args.contacts):
        raise ConfigError("--from-nylas exports messages and contacts itself: drop --messages/--contacts")
    if not nylas:
        given = [f for f, v in (("--with-headers", args.with_headers), ("--limit", args.limit and not preview),
                                ("--contacts-source", args.contacts_source)) if v]
        if given:
            raise ConfigError(f"{', '.join(given)} only apply with --from-nylas")
    if args.messages == "-" and args.contacts == "-":
        raise ConfigError("only one of --messages and --contacts can read stdin")
    if nylas:
        return Inputs.from_nylas_cli(args.from_nylas, with_headers=args.with_headers, limit=args.limit,
                                     contacts_source=args.contacts_source)
    return Inputs(messages=args.messages, contacts=args.contacts, fmt=args.input_format)


def cmd_preview(args: argparse.Namespace, report=None) -> int:
    from .config import load_config
    from .preview import Selection, run_preview

    config = load_config(args.config)
    inputs = _inputs(args, preview=True)
    for flag, value in (("--sample", args.sample), ("--limit", args.limit)):
        if value is not None and value < 0:
            raise ConfigError(f"{flag} must be 0 or more")
    selection = Selection(only=args.only, limit=args.limit, sample=args.sample, seed=args.seed, where=args.where)
    auth = None
    if args.url:
        from .auth import auth_from_env

        auth = auth_from_env(args.auth, args.url.rstrip("/"))
    elif args.auth or args.ca_file:
        raise ConfigError("--auth and --ca-file only apply with --url (the org to read)")
    target = Path(args.output) if args.output else None
    # The output file is created only once the plan is complete: a preview stopped by damaged
    # input leaves nothing that could pass for a plan.
    buffer = _Deferred(target) if target else sys.stdout
    if report is None and getattr(args, "report", None):
        report = _start_report(args, dry_run=True)  # the same report file a sync writes
    report = run_preview(inputs, config, args.mappings, out=buffer, fmt=args.format, selection=selection,
                         url=args.url.rstrip("/") if args.url else None, auth=auth, verify=args.ca_file or True,
                         report=report)
    if target:
        buffer.close()
    if getattr(args, "summary", False):
        print(report.summary(), file=sys.stderr)
    return EXIT_OK


def _start_report(args: argparse.Namespace, *, dry_run: bool):
    """The run's report, its ``--report`` file replaced with a ``running`` one right away."""
    from .report import Report
    from .runfile import RunFile

    report = Report(dry_run=dry_run)
    command = "preview" if args.command == "preview" else "sync --dry-run" if dry_run else "sync"
    args.runfile = RunFile(args.report, report, command=command)
    try:
        args.runfile.start()
    except OSError as exc:
        args.runfile = None
        raise ConfigError(f"cannot write the report {args.report}: {exc.strerror or exc}") from None
    return report


class _Deferred:
    """A file opened on the first write (after planning), written to a temporary name and
    renamed into place when closed."""

    def __init__(self, path: Path):
        self.path = path
        self._f = None

    def write(self, text: str) -> int:
        if self._f is None:
            self._f = open(self.path.with_name(self.path.name + ".part"), "w", encoding="utf-8")
        return self._f.write(text)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            os.replace(self.path.with_name(self.path.name + ".part"), self.path)


def cmd_sync(args: argparse.Namespace) -> int:
    from .auth import auth_providers
    from .config import load_config, org_url_from
    from .progress import make_progress
    from .runfile import file_digest
    from .sync import sync

    report = _start_report(args, dry_run=args.dry_run)
    report.run["digests"]["config"] = file_digest(args.config)
    if args.dry_run:
        if args.format == "text":
            raise ConfigError("--dry-run prints the preview: --format json, ndjson, yaml, table or html")
        args.format = args.format or "json"
        args.summary = False
        return cmd_preview(args, report=report)
    args.format = args.format or "text"
    if args.format not in ("text", "json"):
        raise ConfigError(f"--format {args.format} is a preview format: use it with --dry-run (the summary is text or json)")
    given = [f for f, v in (("--only", args.only), ("--sample", args.sample), ("--where", args.where),
                            ("--output", args.output)) if v]
    if given:
        raise ConfigError(f"{', '.join(given)} only apply with --dry-run (a sync writes every record)")
    config = load_config(args.config)
    url = org_url_from(os.environ, args.url, flag="--url")
    report.run["org_url"] = url
    auth = auth_providers(args.auth, url, users=config.application_users)
    sync(
        _inputs(args),
        config,
        url=url,
        auth=auth,
        mappings_dirs=args.mappings,
        state_path=args.state,
        full=args.full,
        verify=args.ca_file or True,
        progress=make_progress(quiet=args.quiet),
        client_options={"max_retries": max(0, args.max_retries)},
        report=report,
    )
    code = report.exit_code()
    args.runfile.finish(code)  # before printing: stdout and the file show the same, final report
    print(report.to_json() if args.format == "json" else report.summary())
    return code


def cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator.cli import run

    return run(args)


def cmd_plugins(args: argparse.Namespace) -> int:
    from .pluginlist import format_plugins, list_plugins
    from .pluginmanager import make_plugin_manager

    from .config import load_config

    config = load_config(args.config)
    rows = list_plugins(make_plugin_manager(disable=config.plugins_disable), include_builtin=not args.external, hook=args.hook)
    print(format_plugins(rows, args.format))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(fmt=args.format)


def cmd_scaffold(args: argparse.Namespace) -> int:
    from .scaffold import run

    return run(args)


def cmd_schema(args: argparse.Namespace) -> int:
    from .schemafiles import run

    return run(args)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor.cli import run

    return run(args)


COMMANDS = {
    "validate": cmd_validate,
    "doctor": cmd_doctor,
    "preview": cmd_preview,
    "sync": cmd_sync,
    "emulator": cmd_emulator,
    "plugins": cmd_plugins,
    "demo": cmd_demo,
    "scaffold": cmd_scaffold,
    "schema": cmd_schema,
}
