"""Command line: flags, logging, wiring, exit codes. The only module that prints."""

from __future__ import annotations

import argparse
import concurrent.futures.thread
import logging
import os
import queue
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from importlib import resources

from exporter import __version__
from exporter.config import Config, ConfigError, PasswordAuth, load_config
from exporter.errors import CredentialsError
from exporter.projectids import swapped_ids
from exporter.reload import Reloader
from exporter.safetext import SafeFormatter
from exporter.server import parse_listen_address
from exporter.sharding import ShardSpec, ordinal_from_hostname
from exporter.snapshot import Snapshot
from exporter.sources.builtin import BUILTIN
from exporter.sourcetable import SourceTable
from exporter.statelock import StateLockError
from exporter.summary import auth_summary
from exporter.validation import and_list
from exporter.webconfig import WebConfig, WebConfigError, load_web_config
from exporter.wiring import Exporter
from exporter.wording import plural

EXIT_OK = 0
EXIT_POLL_FAILED = 1
EXIT_USAGE = 2
HELP_WIDTH = 100

log = logging.getLogger("exporter")

EXIT_WITHIN = 8.0  # seconds from SIGTERM (or the end of --once) to exit, whatever upstream requests still hang
ONCE_DOWN_NAMED = 3  # down targets the --once summary names; the rest are counted
IGNORED_SIGNALS = ("SIGUSR1", "SIGUSR2")  # their default action kills the process without a word

DESCRIPTION = textwrap.fill(
    f"Prometheus exporter for Huawei Cloud CodeArts CI. Polls {and_list([source.title for source in BUILTIN])} "
    "in the background and serves job status, durations and health scores on /metrics. A scrape never calls "
    "CodeArts: it serves the result of the latest poll.", width=104)

EPILOG = """\
examples:
  codearts-exporter --demo                          built-in simulator, no credentials needed
  codearts-exporter --print-example-config > config.yaml   the commented example configuration, to edit
  codearts-exporter --config.file config.yaml       the real thing
  codearts-exporter --config.file config.yaml --check-config
  codearts-exporter --config.file config.yaml --once > metrics.txt
  codearts-exporter --config.file config.yaml --shard.from-hostname --total-shards 3   in a StatefulSet

SIGHUP (or POST /-/reload with --web.enable-lifecycle) reloads the configuration file; an invalid one is
refused and the running one goes on.
exit codes: 0 ok; 1 --once and a target or discovery source failed; 2 bad flags or configuration.
endpoints: /metrics, /healthz (alive), /readyz (every target polled once), / (targets, failing jobs, config),
POST /-/reload (with --web.enable-lifecycle)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, Prometheus-style flag names."""
    parser = argparse.ArgumentParser(
        prog="codearts-exporter", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config.file", dest="config_file", metavar="PATH",
                        help="YAML configuration file; start from the commented example that "
                             "--print-example-config prints")
    parser.add_argument("--web.listen-address", dest="listen_address", default=":9877", metavar="HOST:PORT",
                        help="address to serve /metrics on (default: %(default)s)")
    parser.add_argument("--web.config.file", dest="web_config_file", metavar="PATH",
                        help="TLS and basic auth for every endpoint, in the Prometheus exporter-toolkit "
                             "web configuration format")
    parser.add_argument("--web.enable-lifecycle", dest="enable_lifecycle", action="store_true",
                        help="accept POST /-/reload to reload the configuration file (as SIGHUP does)")
    parser.add_argument("--log.level", dest="log_level", default="info",
                        choices=("debug", "info", "warning", "error"), help="log verbosity (default: %(default)s)")
    parser.add_argument("--once", action="store_true",
                        help="poll every target once, print the metrics to stdout and exit "
                             "(0 if every target and discovery source succeeded, else 1)")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration, print a summary and exit (2 if invalid)")
    parser.add_argument("--demo", action="store_true",
                        help="start the built-in CodeArts simulator and export its living demo data "
                             "(no credentials needed)")
    parser.add_argument("--shard", type=int, metavar="N",
                        help="poll only the targets of shard N (0-based) of --total-shards")
    parser.add_argument("--total-shards", type=int, default=1, metavar="M",
                        help="number of replicas the targets are split across by consistent hash "
                             "(default: %(default)s)")
    parser.add_argument("--shard.from-hostname", dest="shard_from_hostname", action="store_true",
                        help="take the shard from the host name's ordinal, as a StatefulSet names its pods "
                             "(codearts-exporter-3 is shard 3)")
    parser.add_argument("--print-example-config", action="store_true",
                        help="print the complete, commented example configuration (config.example.yaml, "
                             "shipped with the package) and exit")
    parser.add_argument("--version", action="version", version=f"codearts-exporter {__version__}")
    return parser


def example_config() -> str:
    """The text of config.example.yaml, as installed with the package."""
    return resources.files("exporter").joinpath("config.example.yaml").read_text(encoding="utf-8")


def configure_logging(level: str) -> None:
    """Log to stderr in a logfmt-like single line per event (control characters escaped: one event, one line)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])


def describe(config: Config) -> str:
    """A secret-free summary of a valid configuration, for --check-config."""
    sources = config.sources
    watched = ", ".join(filter(None, (source.summary(config.section(source.name)) for source in sources)))
    endpoints = [f"{source.name} {url}" for source in sources if (url := config.endpoints.url(source.name)) is not None]
    if isinstance(config.auth, PasswordAuth):
        endpoints.append(f"iam {config.endpoints.iam}")
    return (
        f"configuration OK: {watched}; authentication by {auth_summary(config)}; endpoints {', '.join(endpoints)}; "
        f"poll every {config.poll.interval_seconds:g} s (timeout {config.poll.timeout_seconds:g} s, "
        f"{plural(config.poll.concurrency, 'request')} in flight)"
    )


def id_warnings(config: Config) -> list[str]:
    """What looks wrong in a valid configuration's ids: an IAM project id also given as a CodeArts project id."""
    codearts = [pair for source in config.sources for pair in source.project_ids(config.section(source.name))]
    return swapped_ids(config.iam_project(), codearts)


def missing_config(path: str) -> str:
    """What to do when ``--config.file`` names no file (a container started without its configuration)."""
    return (f"no configuration file at {path}: write one there (in a container, mount it: "
            f"-v $PWD/config.yaml:{path}:ro, or the ConfigMap of deploy/kubernetes); "
            "--print-example-config prints a commented one to start from, naming what it needs (the region, "
            "credentials and the repositories or projects to watch); --demo runs without one")


def once_summary(snapshot: Snapshot, seconds: float, sources: SourceTable) -> str:
    """The one line ``--once`` ends with on stderr: how the poll went, what it read, what is down."""
    states = snapshot.states
    up = sum(state.up for state in states)
    # Jobs (and pipelines) of the sources of CI data; the names source's records are names, not jobs.
    jobs = sum(len(state.records) for state in states if sources.get(state.target.api).target_paths)
    failing = sum(len(sources.get(state.target.api).failing_jobs(state)) for state in states)
    text = (f"codearts-exporter --once: {up} of {plural(len(states), 'target')} up, {plural(jobs, 'job')} read, "
            f"{failing} failing or timed out, in {seconds:.1f} s")
    down = [f"{state.target.api} {state.target.key}" for state in states if not state.up]
    if down:
        more = f" and {len(down) - ONCE_DOWN_NAMED} more" if len(down) > ONCE_DOWN_NAMED else ""
        text += f"; down: {', '.join(down[:ONCE_DOWN_NAMED])}{more} (their errors are in the log above)"
    if snapshot.discovery is not None and not snapshot.discovery.all_up():
        failed = sum(not status.up for status in snapshot.discovery.statuses)
        text += f"; {plural(failed, 'discovery source')} failed"
    return text


def shard_from_args(args: argparse.Namespace) -> ShardSpec:
    """The shard the flags name; ValueError with a one-line message when they are inconsistent."""
    if args.shard is not None and args.shard_from_hostname:
        raise ValueError("give either --shard N or --shard.from-hostname, not both")
    if args.shard is None and not args.shard_from_hostname and args.total_shards != 1:
        raise ValueError(f"--total-shards {args.total_shards} needs --shard N or --shard.from-hostname")
    index = ordinal_from_hostname() if args.shard_from_hostname else (args.shard or 0)
    return ShardSpec(index, args.total_shards)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``codearts-exporter`` command."""
    args = build_parser().parse_args(argv)
    if args.print_example_config:
        sys.stdout.write(example_config())
        return EXIT_OK
    configure_logging(args.log_level)
    try:
        address = parse_listen_address(args.listen_address)
        shard = shard_from_args(args)
        web = load_web_config(args.web_config_file) if args.web_config_file else None
    except ValueError as err:  # WebConfigError included
        print(f"codearts-exporter: {err}", file=sys.stderr)
        return EXIT_USAGE
    if web is not None and web.tls is None and not web.users:
        log.warning("--web.config.file %s sets neither TLS nor basic auth: serving plain HTTP to everyone",
                    args.web_config_file)
    if args.demo == bool(args.config_file):
        print("codearts-exporter: give either --config.file PATH or --demo (the built-in simulator); "
              "--print-example-config prints a configuration to start from; see --help", file=sys.stderr)
        return EXIT_USAGE
    if args.config_file and not os.path.lexists(args.config_file):
        print(f"codearts-exporter: {missing_config(args.config_file)}", file=sys.stderr)
        return EXIT_USAGE
    simulator = None
    try:
        if args.demo:
            from exporter.demo import start_demo

            simulator, config = start_demo(BUILTIN)
        else:
            config = load_config(args.config_file, sources=BUILTIN)
    except ConfigError as err:
        print(f"codearts-exporter: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        code = _run(args, config, address, shard, web, demo_url=simulator.url if simulator else None)
    finally:
        if simulator is not None:
            simulator.stop()
    _exit_without_stragglers(code, time.monotonic() + EXIT_WITHIN)
    return code


def _run(args: argparse.Namespace, config: Config, address: tuple[str, int], shard: ShardSpec,
         web: WebConfig | None, demo_url: str | None) -> int:
    for warning in id_warnings(config):
        if args.check_config:
            print(f"codearts-exporter: warning: {warning}", file=sys.stderr)
        else:
            log.warning("%s", warning)
    if args.check_config:
        print(describe(config))
        return EXIT_OK
    signalled: queue.SimpleQueue[str] = queue.SimpleQueue()  # "reload" or "stop", from signal handlers
    _handle_signals(signalled)
    try:
        exporter = Exporter(config, shard=shard)
    except (CredentialsError, StateLockError) as err:  # e.g. an sk_file emptied since the check; a second exporter
        print(f"codearts-exporter: {err}", file=sys.stderr)
        return EXIT_USAGE
    reloader = Reloader(exporter, args.config_file) if args.config_file and not args.once else None
    try:
        code = _once_or_serve(args, exporter, address, web, demo_url, reloader, signalled)
    finally:
        exit_by = time.monotonic() + EXIT_WITHIN
        (reloader.exporter if reloader is not None else exporter).close()
    _exit_without_stragglers(code, exit_by)
    return code


def _once_or_serve(args: argparse.Namespace, exporter: Exporter, address: tuple[str, int], web: WebConfig | None,
                   demo_url: str | None, reloader: Reloader | None, signalled: queue.SimpleQueue[str]) -> int:
    if args.once:
        started = time.monotonic()
        snapshot = exporter.poll_once()
        sys.stdout.buffer.write(exporter.metrics_text())
        sys.stdout.flush()
        print(once_summary(snapshot, time.monotonic() - started, exporter.sources), file=sys.stderr, flush=True)
        return EXIT_OK if exporter.all_succeeded(snapshot) else EXIT_POLL_FAILED
    try:
        server = exporter.serve(address, web)
    except WebConfigError as err:
        print(f"codearts-exporter: --web.config.file {args.web_config_file}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        print(f"codearts-exporter: cannot listen on {args.listen_address}: {err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    if args.enable_lifecycle and reloader is not None:
        server.reload = reloader.reload
    if demo_url:
        print(f"demo: CodeArts simulator at {demo_url}; metrics at {server.url}/metrics, "
              f"targets at {server.url}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    _serve_until_stopped(signalled, reloader)
    log.info("shutting down")
    return EXIT_OK


def _serve_until_stopped(signalled: queue.SimpleQueue[str], reloader: Reloader | None) -> None:
    """Act on the signals in the main thread: reload on SIGHUP, return on SIGINT or SIGTERM."""
    while True:
        try:
            request = signalled.get(timeout=1.0)
        except queue.Empty:
            continue
        if request == "stop":
            return
        if reloader is None:
            log.warning("received SIGHUP: nothing to reload (--demo runs without a configuration file)")
            continue
        log.info("received SIGHUP: reloading the configuration from %s", reloader.path)
        reloader.reload()  # logs the outcome; a refused one leaves the running configuration in place


def _handle_signals(signalled: queue.SimpleQueue[str]) -> None:
    """SIGINT and SIGTERM stop, SIGHUP reloads (through ``signalled``: SimpleQueue.put may be called from a
    signal handler); SIGUSR1/2 are logged and ignored (their default action kills without a word)."""
    def ignored(signum: int, _frame: object) -> None:
        # Logging handlers hold re-entrant locks, so logging from the main thread's handler cannot deadlock.
        log.warning("received %s: ignored", signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: signalled.put("stop"))
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: signalled.put("reload"))
    for name in IGNORED_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), ignored)


def _joined_at_exit() -> list[threading.Thread]:
    """The threads the interpreter waits for at exit: non-daemon ones, and every thread-pool worker (joined by
    concurrent.futures at exit even when daemonic, as the poller's workers are)."""
    main = threading.main_thread()
    workers = list(getattr(concurrent.futures.thread, "_threads_queues", {}))
    return [thread for thread in {*threading.enumerate(), *workers}
            if thread is not main and thread.is_alive() and (not thread.daemon or thread in workers)]


def _exit_without_stragglers(code: int, deadline: float) -> None:
    """Return once every non-daemon thread has ended, or exit the process at ``deadline`` without them.

    Poll workers are threads the interpreter joins at exit: one still inside an upstream request (or a
    retry wait) used to keep the process alive, and polling, long after SIGTERM.
    """
    for thread in _joined_at_exit():
        thread.join(max(0.0, deadline - time.monotonic()))
    stragglers = [thread.name for thread in _joined_at_exit() if thread.is_alive()]
    if not stragglers:
        return
    log.warning("exiting without waiting for %d busy threads (%s)", len(stragglers), ", ".join(sorted(stragglers)))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
