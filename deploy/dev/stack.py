"""Start or stop the development stack: ``python deploy/dev/stack.py start|stop|status``.

``make stack`` / ``make stack-stop`` call this. The proxy listens on
http://127.0.0.1:8080 (``--port``); tokens are written to
``deploy/dev/tokens.json`` (read, write, none); everything else, the built
site included, lives in ``deploy/dev/run/`` (git-ignored). (Not ``site/``:
with ``site/`` present, ``dvc pull`` and so ``make data`` currently fail,
because dvc.yaml's site output is in .dvcignore.) See site_builder/devstack.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from site_builder.deploy.devstack import StackError, running_stack, start_stack, stop_stack

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "deploy" / "dev" / "run"
TOKENS = ROOT / "deploy" / "dev" / "tokens.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=8080, help="proxy port on 127.0.0.1 (default %(default)s)")
    parser.add_argument("--site", type=Path, default=None,
                        help="a built site to serve (default: build one into deploy/dev/run/site)")
    args = parser.parse_args(argv)
    if args.action == "stop":
        stopped = stop_stack(RUN)
        print(f"stack stopped ({len(stopped)} processes)" if stopped else "no stack running")
        return 0
    if args.action == "status":
        stack = running_stack(RUN)
        print(f"stack running at {stack.url}" if stack else "no stack running")
        return 0 if stack else 3
    try:
        already = running_stack(RUN)
        stack = start_stack(ROOT, RUN, port=args.port, site_dir=args.site, tokens_file=TOKENS)
    except StackError as exc:
        print(f"stack: error: {exc}", file=sys.stderr)
        return 1
    print(f"stack {'already running' if already else 'running'}: {stack.url}  "
          f"(site /, API /api/v1/, DVC remote {stack.remote_url})")
    print(f"tokens (read, write, none): {TOKENS.relative_to(ROOT)}; stop with `make stack-stop`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
