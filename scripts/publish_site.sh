#!/usr/bin/env bash
# Publish a built site (pz build: pages + api/v1/) as one commit on a branch that
# the proxy's deployment serves (e.g. a git-sync sidecar), replacing what was there.
#
#   scripts/publish_site.sh SITE_DIR BRANCH SOURCE_COMMIT [REMOTE]
#
# Run inside a clone of the catalogue (it uses a temporary worktree, so the
# clone's credentials, e.g. those of actions/checkout, are used for the push);
# pushes to REMOTE (default: origin). The branch keeps one commit per
# publication, so a bad publication is undone by publishing an older build.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: $0 SITE_DIR BRANCH SOURCE_COMMIT [REMOTE]" >&2
    exit 2
fi
site=$(cd "$1" && pwd)
branch=$2
source_commit=$3
remote=${4:-origin}

if [ ! -f "$site/index.html" ] || [ ! -f "$site/api/v1/index.json" ]; then
    echo "$0: error: $site is not a built site (no index.html or api/v1/index.json); run \`pz build\`" >&2
    exit 1
fi

work=$(mktemp -d)
local_branch="pz-publish-$$"
cleanup() {
    git worktree remove --force "$work" 2>/dev/null || rm -rf "$work"
    git branch -q -D "$local_branch" 2>/dev/null || true
}
trap cleanup EXIT

git worktree add -q --detach "$work"
if git fetch -q --depth 1 "$remote" "+refs/heads/$branch:refs/remotes/$remote/$branch" 2>/dev/null; then
    git -C "$work" checkout -q -B "$local_branch" "refs/remotes/$remote/$branch"
else
    git -C "$work" checkout -q --orphan "$local_branch"
fi
git -C "$work" rm -q -r -f --ignore-unmatch . >/dev/null
git -C "$work" clean -q -f -d -x
cp -R "$site"/. "$work"/
touch "$work/.nojekyll"
git -C "$work" add -A -f
git -C "$work" -c user.name="pz publish" -c user.email="pz-publish@users.noreply.github.com" \
    commit -q --allow-empty -m "Publish the site built from $source_commit"
git -C "$work" push -q "$remote" "HEAD:refs/heads/$branch"
echo "published $site to $branch ($(git -C "$work" rev-parse --short HEAD), built from $source_commit)"
