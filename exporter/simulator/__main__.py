"""``python -m exporter.simulator``: run the CodeArts simulator until SIGTERM or SIGINT.

Prints exactly one line to stdout, ``listening on http://HOST:PORT``, once it serves; the ids of its
projects and pipelines go to stderr. Without any size flag it serves the demo world.

With ``--iam-user`` and/or ``--access-key`` it also serves IAM (``/v3/auth/tokens``) and accepts IAM
tokens and AK/SK signatures; the password and the SK come from the environment (SIM_IAM_PASSWORD,
SIM_IAM_SK), never from a flag.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

from exporter.simulator.iam import DEFAULT_TOKEN_LIFETIME, AccessKey, IamService, IamUser
from exporter.simulator.server import BUILD_PAGING_MODES, DEFAULT_TOKEN, REPO_PAGING_MODES, Simulator
from exporter.simulator.world import World

log = logging.getLogger("exporter.simulator")

SIZE_FLAGS = ("projects", "jobs_per_project", "repositories", "pipelines_per_repo", "jobs_per_pipeline")
SIZE_DEFAULTS = {"projects": 2, "jobs_per_project": 10, "repositories": 1, "pipelines_per_repo": 2,
                 "jobs_per_pipeline": 8}


def build_parser() -> argparse.ArgumentParser:
    """The simulator's command line."""
    parser = argparse.ArgumentParser(prog="python -m exporter.simulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind, 0 for a free one (default: 0)")
    parser.add_argument("--token", default=DEFAULT_TOKEN,
                        help="X-Auth-Token to require; empty string: no auth (default: %(default)s)")
    parser.add_argument("--repo-paging", choices=REPO_PAGING_MODES, default="item",
                        help="what the Repo 'offset' counts (default: %(default)s)")
    parser.add_argument("--build-paging", choices=BUILD_PAGING_MODES, default="zero",
                        help="how the Build 'page_index' counts (default: %(default)s)")
    for flag in SIZE_FLAGS:
        parser.add_argument("--" + flag.replace("_", "-"), type=_count, default=None, metavar="N",
                            help=f"world size (default {SIZE_DEFAULTS[flag]} once any size flag is given)")
    parser.add_argument("--duplicate-names", action="store_true",
                        help="give each pipeline one duplicated (stage, name) pair")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="delay every answer by this long (default: 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the timing and outcomes (default: 0)")
    parser.add_argument("--frozen-at", type=float, default=None, metavar="EPOCH_SECONDS",
                        help="freeze the clock at this moment (default: real time)")
    parser.add_argument("--iam-user", metavar="DOMAIN:USER:IAM_PROJECT_ID",
                        help="serve IAM tokens to this user; password from $SIM_IAM_PASSWORD")
    parser.add_argument("--access-key", metavar="AK:IAM_PROJECT_ID",
                        help="accept AK/SK signatures of this key; SK from $SIM_IAM_SK")
    parser.add_argument("--token-lifetime", type=float, default=DEFAULT_TOKEN_LIFETIME, metavar="SECONDS",
                        help="lifetime of IAM tokens (default: %(default)g)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser


def build_iam(args: argparse.Namespace, env: dict[str, str] | None = None) -> IamService | None:
    """The IAM the flags ask for, or None; raises ValueError naming a malformed flag or a missing variable."""
    env = dict(os.environ) if env is None else env
    users, keys = [], []
    if args.iam_user:
        parts = args.iam_user.split(":")
        if len(parts) != 3 or not all(parts) or not env.get("SIM_IAM_PASSWORD"):
            raise ValueError("--iam-user needs DOMAIN:USER:IAM_PROJECT_ID and $SIM_IAM_PASSWORD set")
        users.append(IamUser(parts[0], parts[1], env["SIM_IAM_PASSWORD"], parts[2]))
    if args.access_key:
        parts = args.access_key.split(":")
        if len(parts) != 2 or not all(parts) or not env.get("SIM_IAM_SK"):
            raise ValueError("--access-key needs AK:IAM_PROJECT_ID and $SIM_IAM_SK set")
        keys.append(AccessKey(parts[0], env["SIM_IAM_SK"], parts[1]))
    if not users and not keys:
        return None
    return IamService(users=users, access_keys=keys, token_lifetime=args.token_lifetime, clock=time.time)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_world(args: argparse.Namespace) -> World:
    """The demo world, or a generated one when any size flag was given."""
    frozen_at = args.frozen_at
    clock: Callable[[], float] = time.time if frozen_at is None else (lambda: frozen_at)
    sizes = {flag: getattr(args, flag) for flag in SIZE_FLAGS}
    if all(value is None for value in sizes.values()):
        return World.demo(clock, seed=args.seed, duplicate_names=args.duplicate_names)
    chosen = {flag: SIZE_DEFAULTS[flag] if value is None else value for flag, value in sizes.items()}
    return World.generated(seed=args.seed, clock=clock, duplicate_names=args.duplicate_names, **chosen)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator in the foreground."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="ts=%(asctime)s level=%(levelname)s logger=%(name)s msg=%(message)s")
    world = build_world(args)
    try:
        iam = build_iam(args)
    except ValueError as err:
        sys.stderr.write(f"python -m exporter.simulator: {err}\n")
        return 2
    simulator = Simulator(world, host=args.host, port=args.port, token=args.token or None,
                          repo_paging=args.repo_paging, build_paging=args.build_paging, iam=iam,
                          latency=args.latency)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    simulator.start()
    try:
        for project_id in world.project_ids():
            log.info("build project %s", project_id)
        for repository_id, pipeline_id in world.pipeline_keys():
            log.info("repository %d pipeline %d", repository_id, pipeline_id)
        sys.stdout.write(f"listening on {simulator.url}\n")
        sys.stdout.flush()
        while not stop.wait(1.0):
            pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
