"""Benchmark: the proxy with RSP auth against the identical server without auth, side by side.

Starts the development stack (real nginx + dev Gafaelfawr, site built from this
repository) with a second, identical nginx server without auth in the same nginx,
then loads both with wrk (Debian's `wrk`) for a fixed time and a fixed number of
connections, alternating auth / no auth for several rounds:

- pages: the landing page, the catalogue pages and every product page, in turn;
- DVC objects: every object of the sample remote, in turn.

It prints requests/s and p99 latency (medians over the rounds), the with/without
ratio, and the error count (socket errors + non-2xx answers). Then it counts the
auth subrequests nginx makes during a real `dvc pull` of the sample catalogue, with
the auth cache (the default, like GafaelfawrIngress's authCacheDuration) and, for
comparison, without it.

    .venv/bin/python bench/proxy.py [--duration 5] [--connections 16] [--rounds 3]

Goal (issue "Access control and deployment"): with auth at least 50% of the
throughput without, zero errors; auth subrequests of a `dvc pull` near one per
object or less.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchenv import print_environment  # noqa: E402

from site_builder.deploy.devstack import Stack, start_stack  # noqa: E402

BIN = Path(sys.executable).parent

ROTATE = """
paths = {%s}
i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


def wrk(url: str, paths: list[str], headers: dict[str, str], duration: int, connections: int,
        script_dir: Path) -> dict[str, float]:
    """One wrk run; returns requests/s, p99 latency (ms) and errors."""
    script = script_dir / "rotate.lua"
    script.write_text(ROTATE % ", ".join(f'"{p}"' for p in paths))
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script)]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    p99 = re.search(r"99%\s+([0-9.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    return {"rps": rps, "p99": float(p99.group(1)) * scale, "errors": errors}


def page_paths(stack: Stack) -> list[str]:
    paths = ["/", "/catalog/", "/official/"]
    paths += [f"/products/{p.name}/" for p in sorted((stack.site_dir / "products").iterdir()) if p.is_dir()]
    return [p for p in paths if (stack.site_dir / p.lstrip("/") / "index.html").is_file()]


def object_paths(stack: Stack) -> list[str]:
    files = sorted(p for p in (stack.remote_dir / "files" / "md5").rglob("*") if p.is_file())
    return ["/dvc/" + p.relative_to(stack.remote_dir).as_posix() for p in files]


def pull_auth_requests(stack: Stack, work: Path) -> tuple[int, int]:
    """(auth subrequests during `dvc pull` of the sample catalogue, objects pulled)."""
    clone = work / f"clone-{stack.url.rsplit(':', 1)[1]}"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {**os.environ, "ACCESS_TOKEN": stack.tokens["read"]}
    subprocess.run([str(BIN / "pz"), "token", "--url", stack.remote_url, "--no-check"], cwd=clone, env=env,
                   check=True, capture_output=True)
    before = stack.auth_requests()
    subprocess.run([str(BIN / "dvc"), "pull", "-q"], cwd=clone, check=True)
    objects = sum(1 for p in (clone / ".dvc" / "cache" / "files" / "md5").rglob("*") if p.is_file())
    return stack.auth_requests() - before, objects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default %(default)s)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="auth/no-auth rounds (default %(default)s)")
    args = parser.parse_args()
    print_environment()
    if not shutil.which("wrk"):
        print("bench/proxy.py: error: wrk is not installed\n  hint: apt-get install wrk", file=sys.stderr)
        return 1
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; "
          f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} rounds, nginx 1 worker")
    with tempfile.TemporaryDirectory(prefix="pz-bench-proxy-") as tmp:
        work = Path(tmp)
        stack = start_stack(REPO, work / "run", noauth=True, workers=1)
        try:
            # First, with the auth cache still cold for this token.
            asked, objects = pull_auth_requests(stack, work)
            pull_line = (f"dvc pull of the sample catalogue, auth cache on (5m): {asked} auth subrequests "
                         f"for {objects} objects")
            token = {"Authorization": f"Bearer {stack.tokens['read']}"}
            targets = {"pages": page_paths(stack), "DVC objects": object_paths(stack)}
            results: dict[tuple[str, str], list[dict]] = {}
            for _ in range(args.rounds):
                for target, paths in targets.items():
                    for mode, url, headers in (("auth", stack.url, token), ("no auth", stack.noauth_url, {})):
                        results.setdefault((target, mode), []).append(
                            wrk(url, paths, headers, args.duration, args.connections, work))
            print(f"\n{'target':<12} {'server':<8} {'req/s':>9} {'p99 ms':>8} {'errors':>7}   (medians of "
                  f"{args.rounds} runs; {len(targets['pages'])} pages, {len(targets['DVC objects'])} objects)")
            for target in targets:
                row = {}
                for mode in ("auth", "no auth"):
                    runs = results[(target, mode)]
                    row[mode] = statistics.median(r["rps"] for r in runs)
                    print(f"{target:<12} {mode:<8} {row[mode]:>9.0f} "
                          f"{statistics.median(r['p99'] for r in runs):>8.2f} {sum(r['errors'] for r in runs):>7}")
                print(f"{target:<12} ratio auth / no auth: {row['auth'] / row['no auth']:.0%}")
            print("\n" + pull_line)
        finally:
            stack.stop()
        nocache = start_stack(REPO, work / "run-nocache", site_dir=stack.site_dir, auth_cache="", workers=1)
        try:
            asked, objects = pull_auth_requests(nocache, work)
            print(f"dvc pull of the sample catalogue, auth cache off:     {asked} auth subrequests "
                  f"for {objects} objects")
        finally:
            nocache.stop()
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
