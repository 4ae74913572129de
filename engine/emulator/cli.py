"""``mail2dataverse emulator``: run the strict Dataverse Web API emulator until stopped.

The main CLI calls :func:`add_arguments` to declare the flags and :func:`run` to serve. The
first line of stdout is the base URL (``http://127.0.0.1:PORT``); with ``--tls`` the second is
the CA certificate path to trust (e.g. ``REQUESTS_CA_BUNDLE``). SIGINT/SIGTERM stop the server
and, with ``--state``, save the store to that file (it is loaded on start when it exists; a file
that is not an emulator state file is refused, never overwritten). ``--seed FILE`` loads an org's
records in the demo's ``org.json`` shape and never writes that file.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from pathlib import Path
from typing import TYPE_CHECKING

from .catalog import PROFILES
from .costs import MODELS, load_cost_file, parse_overrides
from .faults import FaultProfile

if TYPE_CHECKING:  # imported where it serves (_emulator): declaring the flags needs no server
    from .server import Emulator


def _alternate_key(text: str) -> tuple[str, tuple[str, ...]]:
    table, sep, columns = text.partition(":")
    if not sep or not table or not columns:
        raise argparse.ArgumentTypeError(f"expected TABLE:COLUMN[+COLUMN...], got {text!r}")
    return table.strip(), tuple(c.strip() for c in columns.split("+"))


def _faults(text: str) -> FaultProfile:
    try:
        return FaultProfile.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def _cost(text: str) -> dict[str, float]:
    try:
        return parse_overrides(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the emulator's flags on ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
    parser.add_argument("--tls", action="store_true",
                        help="serve HTTPS with a generated certificate; prints the CA file path")
    parser.add_argument("--state", metavar="FILE", help="JSON file loaded on start and saved on exit")
    parser.add_argument("--alternate-key", metavar="TABLE:COLUMN", action="append", type=_alternate_key,
                        default=[], help="declare an alternate key, e.g. contact:emailaddress1 (repeatable; "
                                         "composite keys as TABLE:COL1+COL2)")
    parser.add_argument("--latency-ms", type=float, default=0, help="latency added to every request")
    parser.add_argument("--faults", metavar="PROFILE", type=_faults, default=None,
                        help='fault profile, e.g. "429=0.1,503=0.02,drop=0.01,slow=0.05:200ms,seed=7"')
    parser.add_argument("--token-ttl", metavar="SECONDS", type=float, default=None,
                        help="expire each bearer token this many seconds after its first use (401)")
    parser.add_argument("--anonymous", action="store_true",
                        help="also accept requests without an Authorization header (sync --auth none)")
    parser.add_argument("--seed", metavar="FILE", default=None,
                        help="load an org's records (the demo's org.json shape) on start; the file is never written")
    parser.add_argument("--random-seed", type=int, default=0, help="seed for generated ids and faults")
    parser.add_argument("--org-profile", choices=PROFILES, default="sales+service",
                        help="the org's shape: base (no opportunity/incident), sales, service, sales+service")
    parser.add_argument("--schema-extend", metavar="FILE", default=None,
                        help="YAML of custom columns and tables, e.g. contact new_nickname (docs/emulator.md)")
    parser.add_argument("--bypass-privilege", action="store_true",
                        help="grant prvBypassCustomPlugins/prvBypassCustomBusinessLogic (MSCRM.Bypass* headers)")
    parser.add_argument("--statecode-on-create", choices=("reject", "ignore"), default="reject",
                        help="what to do with statecode in a create body where it is not valid for create")
    parser.add_argument("--drop-privilege", metavar="NAME", action="append", default=[],
                        help="take a privilege out of the application user's role, e.g. prvReadContact "
                             "(repeatable; what `doctor` then reports)")
    parser.add_argument("--email-subject-max", type=int, default=800,
                        help="maximum length of email.subject (800 today, 200 on older orgs)")
    parser.add_argument("--cost-model", choices=MODELS, default="realistic",
                        help="modeled server time per operation: realistic estimates (default) or none")
    parser.add_argument("--cost", metavar="NAME=SECONDS", action="append", type=_cost, default=[],
                        help="override one cost figure, e.g. create.contact=0.2 or row=1ms (repeatable)")
    parser.add_argument("--cost-file", metavar="FILE", help="YAML/JSON mapping of cost figures (before --cost)")
    parser.add_argument("--web-servers", metavar="N", type=_positive(int), default=1,
                        help="web servers behind the affinity cookie, each with its own limits (default 1)")
    parser.add_argument("--time-scale", metavar="F", type=_positive(float), default=1.0,
                        help="run modeled time F times faster than real time (latency, costs, windows, "
                             "Retry-After)")


def _seeds(args: argparse.Namespace) -> tuple[str | None, int]:
    """``(seed file, random seed)``: ``--seed 7`` keeps meaning the random seed it used to be
    when no file of that name exists."""
    seed, random_seed = getattr(args, "seed", None), getattr(args, "random_seed", 0)
    if isinstance(seed, int):
        return None, seed
    if seed is not None and seed.lstrip("-").isdigit() and not Path(seed).exists():
        print(f"--seed {seed}: taken as --random-seed {seed} (--seed now names an org file)", file=sys.stderr)
        return None, int(seed)
    return seed, random_seed


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; returns the process exit status."""
    overrides: dict[str, float] = {}
    if getattr(args, "cost_file", None):
        try:
            overrides.update(load_cost_file(args.cost_file))
        except (OSError, ValueError) as exc:
            print(f"mail2dataverse emulator: --cost-file: {exc}", file=sys.stderr)
            return 2
    for item in getattr(args, "cost", []):
        overrides.update(item)
    seed_file, random_seed = _seeds(args)
    try:
        emu = _emulator(args, seed_file, random_seed, overrides)
        emu.start()
    except (ValueError, OSError) as exc:  # a bad --state/--seed/--schema-extend file: say which, no traceback
        print(f"mail2dataverse emulator: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(emu.base_url, flush=True)
        if emu.ca_file:
            print(emu.ca_file, flush=True)
        print(f"service root {emu.service_root}; cost model {emu.economy.cost_model.name}, "
              f"{getattr(args, 'web_servers', 1)} web server(s), time scale {emu.clock.scale:g}; "
              f"usage at {emu.base_url}/_emulator/usage; faults: {emu.faults.describe()}", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _emulator(args: argparse.Namespace, seed_file: str | None, random_seed: int, costs: dict[str, float]) -> Emulator:
    from .server import Emulator

    return Emulator(host=args.host, port=args.port, tls=args.tls, alternate_keys=tuple(args.alternate_key),
                   latency_ms=args.latency_ms, faults=args.faults, token_ttl=args.token_ttl,
                   state_file=args.state, seed=random_seed, seed_file=seed_file,
                   org_profile=getattr(args, "org_profile", "sales+service"),
                   schema_extend=getattr(args, "schema_extend", None),
                   bypass_privilege=getattr(args, "bypass_privilege", False),
                   statecode_on_create=getattr(args, "statecode_on_create", "reject"),
                   email_subject_max=getattr(args, "email_subject_max", 800),
                   anonymous=getattr(args, "anonymous", False),
                   cost_model=getattr(args, "cost_model", "realistic"), costs=costs or None,
                   web_servers=getattr(args, "web_servers", 1), time_scale=getattr(args, "time_scale", 1.0),
                   drop_privileges=tuple(getattr(args, "drop_privilege", ()) or ()))


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m mail2dataverse.emulator``)."""
    parser = argparse.ArgumentParser(prog="mail2dataverse emulator", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
