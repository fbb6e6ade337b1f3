"""``smartdc-nb emulator`` / ``python -m smartdc_nb.emulator``: serve the emulator.

Prints each datacenter's URL in the order given and a ready-to-use triton
profile, then serves until Ctrl-C or SIGTERM and stops cleanly (exit 0).

No Python signal handler takes a lock (see :class:`StopSignals`): a handler
calling ``threading.Event.set()`` deadlocks when a second signal re-enters it
on the same thread, which a held Ctrl-C or ``timeout`` (it signals the child
and its group) does.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from .auth import load_public_key


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0,
                        help="port of the first datacenter; datacenter i uses PORT+i "
                             "(0, the default, picks free ports)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--account", default="demo", help="the account login (default demo)")
    parser.add_argument("--key", action="append", default=[], metavar="PUBKEY_FILE",
                        help="an OpenSSH public key file of the account (repeatable)")
    parser.add_argument("--machines", type=int, default=50,
                        help="seeded machines per datacenter (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the demo fleet (default 0)")
    parser.add_argument("--datacenters", default="us-east-1", metavar="NAME[,NAME...]",
                        help="datacenter names, one port each (default us-east-1)")
    parser.add_argument("--state", metavar="FILE", help="SQLite file for write-through persistence")
    parser.add_argument("--reset", action="store_true", help="with --state: re-seed, dropping stored state")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="run every transition X times faster than the defaults")
    parser.add_argument("--throttle", action="store_true",
                        help="throttle each login like CloudAPI (burst 30, 10 requests/s)")
    parser.add_argument("--no-verify", action="store_true",
                        help="accept requests without checking signatures (never on a shared host)")
    parser.add_argument("--no-changefeed", action="store_true",
                        help="serve no changefeed: the WebSocket upgrade is refused, as on a "
                             "CloudAPI without it")
    parser.add_argument("--ready-file", metavar="PATH",
                        help='write {"urls": {...}, "pid": N, "parent_pid": P} as JSON here once '
                             'serving (removed when it begins to stop)')
    parser.add_argument("--parent-pid", type=int, metavar="PID",
                        help="exit when the process PID is gone")


def _fail(message: str) -> int:
    print(f"smartdc-nb emulator: {message}", file=sys.stderr)
    return 2


def _read_keys(paths: list[str]) -> list[str] | str:
    lines = []
    for path in paths:
        try:
            text = Path(path).expanduser().read_text().strip()
        except OSError as exc:
            return f"cannot read key file {path}: {exc.strerror or exc}"
        for line in filter(None, (raw.strip() for raw in text.splitlines())):
            try:
                load_public_key(line)
            except ValueError as exc:
                return f"{path} is not an OpenSSH public key file ({exc}); give the .pub file"
            lines.append(line)
    return lines


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_ready(path: str, urls: dict[str, str], parent_pid: int | None) -> None:
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(json.dumps({"urls": urls, "pid": os.getpid(), "parent_pid": parent_pid}))
    partial.replace(target)


def _banner(emu: Any, account: str, keys: list[str], args: argparse.Namespace) -> str:
    lines = [f"smartdc_nb emulator: {len(emu.urls)} datacenter(s), {args.machines} seeded machines "
             f"each (seed {args.seed}), speed {args.speed:g}x"
             + (f", state in {args.state}" if args.state else "")]
    width = max(len(name) for name in emu.urls)
    lines += [f"  {name:<{width}}  {url}" for name, url in emu.urls.items()]
    if keys:
        key_id = load_public_key(keys[0]).md5
        profile = {"url": emu.url, "account": account, "keyId": key_id}
        lines += ["triton profile (save as ~/.triton/profiles.d/emulator.json):",
                  "  " + json.dumps(profile),
                  "or in the environment:",
                  f"  export TRITON_URL={emu.url} TRITON_ACCOUNT={account} TRITON_KEY_ID={key_id}"]
    else:
        lines.append("warning: no --key given: the account has no keys, so signed requests "
                     "cannot succeed" + ("" if args.no_verify else " (use --key FILE.pub)"))
    lines.append("Ctrl-C to stop.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 0 on a clean stop, 2 on bad arguments.

    Unexpected errors go to stderr with their request id: the package's
    NullHandler would swallow them, and an operator must see them.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("smartdc-nb emulator: %(levelname)s: %(message)s"))
    logger = logging.getLogger("smartdc_nb.emulator")
    logger.addHandler(handler)
    try:
        return _serve(args)
    finally:
        logger.removeHandler(handler)


def _serve(args: argparse.Namespace) -> int:
    from . import Emulator

    names = [n.strip() for n in str(args.datacenters).split(",") if n.strip()]
    if not names:
        return _fail("--datacenters needs at least one name")
    if args.port < 0 or args.port + len(names) - 1 > 65535:
        return _fail(f"--port {args.port} leaves no room for {len(names)} datacenter(s)")
    if args.reset and not args.state:
        return _fail("--reset only makes sense with --state FILE")
    keys = _read_keys(args.key)
    if isinstance(keys, str):
        return _fail(keys)
    ports = [args.port + i if args.port else 0 for i in range(len(names))]
    with StopSignals() as stop:  # before the server threads start: they inherit the mask
        try:
            emu = Emulator(datacenters=names, accounts={args.account: keys},
                           machines=args.machines, seed=args.seed, speed=args.speed,
                           throttle=True if args.throttle else None, state=args.state,
                           host=args.host, ports=ports, verify_signatures=not args.no_verify,
                           changefeed=not getattr(args, "no_changefeed", False))
            if args.reset:
                emu.reset()
            emu.start()
        except (ValueError, OSError) as exc:
            taken = getattr(exc.__cause__, "errno", None) == errno.EADDRINUSE
            return _fail(str(exc) + ("; give another --port, or leave it out to have free ports "
                                     "picked" if taken else ""))
        try:
            if args.ready_file:  # before the banner: a file it cannot write ends the command
                try:
                    _write_ready(args.ready_file, emu.urls, args.parent_pid)
                except OSError as exc:
                    return _fail(f"cannot write --ready-file {args.ready_file}: "
                                 f"{exc.strerror or exc}; give a file in a folder that can "
                                 "be written")
            print(_banner(emu, args.account, keys, args), flush=True)
            while not stop.wait(0.5):
                if args.parent_pid and not _alive(args.parent_pid):
                    break
        finally:
            if args.ready_file:  # first: nobody may start using a cloud that is stopping
                Path(args.ready_file).unlink(missing_ok=True)
            emu.close()
    print("smartdc_nb emulator: stopped", flush=True)
    return 0


class StopSignals:
    """Waits for SIGTERM or SIGINT without a Python signal handler.

    Where the platform has ``sigtimedwait`` (Linux) both signals are blocked in
    this thread and in the threads it starts, and :meth:`wait` takes them from
    the pending set: no handler runs, so nothing can re-enter or deadlock. Once
    one arrived they stay blocked (the process is ending: the rest of a burst
    stays pending until exit); otherwise the old mask comes back on exit.
    Elsewhere (macOS) a handler that only appends to a list is used, polled.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: list[int] = []
        self._masked = hasattr(signal, "sigtimedwait")
        self._previous: Any = None

    def __enter__(self) -> "StopSignals":
        if self._masked:
            self._previous = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        else:
            self._previous = {sig: signal.signal(sig, lambda n, _f: self.received.append(n))
                              for sig in self.SIGNALS}
        return self

    def wait(self, seconds: float) -> bool:
        """True once a stop signal arrived (waits up to ``seconds`` for one)."""
        if self._masked:
            info = signal.sigtimedwait(self.SIGNALS, seconds)
            # after SIGSTOP/SIGCONT past the timeout, CPython returns a siginfo it never
            # filled in (EINTR, then no time left): only a signal we wait for counts
            if info is not None and info.si_signo in self.SIGNALS:
                self.received.append(info.si_signo)
        elif not self.received:
            time.sleep(seconds)
        return bool(self.received)

    def __exit__(self, *exc: Any) -> None:
        if self._masked:
            if not self.received:
                signal.pthread_sigmask(signal.SIG_SETMASK, self._previous)
        else:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
