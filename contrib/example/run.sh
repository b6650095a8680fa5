#!/usr/bin/env bash
# The whole hpm loop on the bundled example, offline:
#   builds hpm, makes each plugin a git repo with a prod tag (v1.0.0) and a
#   staging tag (v1.1.0.dev0) pushed to a local bare remote (file://, standing
#   in for GitHub), then: sync in dev, edit a plugin and see the edit without
#   a reinstall, switch to staging and prod, show the status, swap a group's
#   plugin, run the CI check. hpmctl talks to hpmd, which it starts.
# The example lives in ${HPM_EXAMPLE_DIR:-target/hpm-example}; rerunning starts afresh.
# HPM_BIN_DIR names a folder of built hpmctl and hpmd to use instead of building.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="${HPM_EXAMPLE_DIR:-$repo/target/hpm-example}"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ -n "${HPM_BIN_DIR:-}" ]; then
    hpmctl="$HPM_BIN_DIR/hpmctl"     # binaries already built (the test suite)
else
    step "building hpm"
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p hpmctl   # both executables
    hpmctl="$repo/target/release/hpmctl"
fi
# The example's own daemon (hpmctl starts it on first use), stopped at the end;
# its socket's folder is one hpmd makes private (0700) itself.
export HPM_SOCKET="$work/daemon/hpmd.sock"
trap '"$hpmctl" daemon stop >/dev/null 2>&1 || true' EXIT
if ! command -v uv >/dev/null && ! python3 -c 'import uv' 2>/dev/null; then
    step "installing uv (python3 -m pip install uv)"
    python3 -m pip install --quiet uv
fi

step "making the example in $work"
rm -rf "$work"
mkdir -p "$work/remotes"
cp -R "$here/core" "$work/core"
mkdir -p "$work/core/hpm-registry"   # git keeps no empty folder; filled below
gitq() { git -c user.name=hpm-example -c user.email=example@hpm.invalid -c commit.gpgsign=false "$@"; }
for plugin in text-utils greeter-en greeter-fr; do
    src="$work/src/$plugin"
    cp -R "$here/plugins/$plugin" "$src" 2>/dev/null || { mkdir -p "$work/src"; cp -R "$here/plugins/$plugin" "$src"; }
    module="${plugin//-/_}"
    gitq -C "$src" init --quiet -b main
    gitq -C "$src" add -A && gitq -C "$src" commit --quiet -m "release 1.0.0" && gitq -C "$src" tag v1.0.0
    sed -i 's/1\.0\.0/1.1.0.dev0/' "$src/pyproject.toml" "$src/$module/__init__.py"
    gitq -C "$src" commit --quiet -am "release 1.1.0.dev0" && gitq -C "$src" tag v1.1.0.dev0
    gitq clone --quiet --bare "$src" "$work/remotes/$plugin.git"
    url="file://$work/remotes/$plugin.git"
    cat > "$work/core/hpm-registry/$plugin.yaml" <<YAML
name: $plugin
repo: $url
sources:
  dev:     { type: local, path: ./packages/$plugin, editable: true }
  staging: { type: git, url: "$url", ref: v1.1.0.dev0 }
  prod:    { type: git, url: "$url", ref: v1.0.0 }
YAML
done
for plugin in text-utils greeter-en; do
    gitq clone --quiet "file://$work/remotes/$plugin.git" "$work/core/packages/$plugin"
done

cd "$work/core"
demo() { .venv/bin/python -m demo_core; }

step "hpmctl sync   (dev: the plugins are editable clones in packages/)"
"$hpmctl" sync
demo

step "editing packages/text-utils: the change is live without a reinstall"
sed -i 's/return text.upper() + "!"/return text.upper() + "!!! (edited in dev)"/' packages/text-utils/text_utils/__init__.py
demo

step "hpmctl switch staging   (git dev tags)"
"$hpmctl" switch staging
demo

step "hpmctl switch prod   (git stable tags)"
"$hpmctl" switch prod
demo

step "hpmctl status   (mode, source, installed version, and each clone's git state)"
"$hpmctl" status

step "hpmctl group add greeter --option greeter-fr   (swap the plugin in a slot)"
"$hpmctl" group add greeter --option greeter-fr
demo

step "hpmctl check   (what CI runs: plan, lock, no local sources outside dev)"
"$hpmctl" check

step "pyproject.toml as hpm left it (comments kept)"
cat pyproject.toml
