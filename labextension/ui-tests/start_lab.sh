#!/usr/bin/env bash
# Start JupyterLab for the browser tests, isolated from the user's config: config, data-less
# runtime, settings and workspaces live in a fresh temp dir, the root dir is an empty temp dir.
# Usage: start_lab.sh PORT TOKEN   (playwright.config.ts runs it as its webServer and stops it)
set -euo pipefail
PORT=${1:-8899}
TOKEN=${2:-futurelab-ui}
# the server's (and kernels') log, git-ignored
LOG=${FUTURELAB_UI_LOG:-$(dirname "$0")/.cache/jupyter-lab.log}
mkdir -p "$(dirname "$LOG")" && : >"$LOG"
STATE=$(mktemp -d -t futurelab-ui-XXXXXX)
trap 'rm -rf "$STATE"' EXIT
mkdir -p "$STATE/root" "$STATE/config" "$STATE/runtime" "$STATE/workspaces" \
         "$STATE/settings/@jupyterlab/apputils-extension"
# no "receive official Jupyter news?" toast
echo '{"fetchNews": "false", "checkForUpdates": false}' \
  > "$STATE/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
export JUPYTER_CONFIG_DIR="$STATE/config" JUPYTER_RUNTIME_DIR="$STATE/runtime"
export JUPYTERLAB_SETTINGS_DIR="$STATE/settings" JUPYTERLAB_WORKSPACES_DIR="$STATE/workspaces"
ALLOW_ROOT=()
[ "$(id -u)" = 0 ] && ALLOW_ROOT=(--allow-root)
jupyter lab --no-browser --ip=127.0.0.1 --port="$PORT" --ServerApp.port_retries=0 \
  --IdentityProvider.token="$TOKEN" --ServerApp.root_dir="$STATE/root" \
  --LabApp.extension_manager=readonly --LabApp.expose_app_in_browser=True \
  --ServerApp.open_browser=False "${ALLOW_ROOT[@]}" >>"$LOG" 2>&1 &
LAB=$!
trap 'kill $LAB 2>/dev/null; wait $LAB 2>/dev/null; rm -rf "$STATE"' EXIT INT TERM
wait $LAB
