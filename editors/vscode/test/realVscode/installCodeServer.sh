#!/usr/bin/env sh
# Installs code-server (real VS Code in a browser) into a cache folder outside the repository,
# once: a second run finds it there. Prints the code-server program on its last line of stdout,
# or exits 3 with a line starting "SKIPPED:" when it cannot be installed from here (no npm
# registry). Any other failure exits non-zero with what failed.
#
# code-server 4.100.3 (VS Code 1.100.3) is the newest that runs on Node 20. Its install builds
# native modules (libkrb5-dev, node-gyp) and its @vscode/ripgrep downloads rg from GitHub; that
# package first looks for the release tarball in a cache folder, which is seeded here with the
# system's rg (Debian's ripgrep) so nothing is fetched from GitHub.
set -eu

VERSION=4.100.3
# @vscode/ripgrep as code-server 4.100.3's lib/vscode/npm-shrinkwrap.json pins it, and the rg
# release that version's postinstall.js asks for.
RIPGREP_PACKAGE=1.15.11
RIPGREP_RELEASE=v13.0.0-10

CACHE="${FINCH_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/finch-lsp/vscode-e2e}"
PREFIX="$CACHE/code-server-$VERSION"
PROGRAM="$PREFIX/node_modules/.bin/code-server"

if [ -x "$PROGRAM" ] && [ -f "$PREFIX/.installed" ]; then
  echo "$PROGRAM"
  exit 0
fi

for tool in npm rg; do
  command -v "$tool" >/dev/null || { echo "installCodeServer: $tool is missing (apt-get install ripgrep / nodejs)" >&2; exit 1; }
done
if ! npm view "code-server@$VERSION" version >/dev/null 2>&1; then
  echo "SKIPPED: the npm registry cannot be reached, so code-server $VERSION cannot be installed; the real VS Code test does not run." >&2
  exit 3
fi

case "$(uname -m)" in
  x86_64) target=x86_64-unknown-linux-musl ;;
  aarch64) target=aarch64-unknown-linux-musl ;;
  *) echo "installCodeServer: no ripgrep target known for $(uname -m)" >&2; exit 1 ;;
esac
tmp="${TMPDIR:-/tmp}"
seed="$tmp/vscode-ripgrep-cache-$RIPGREP_PACKAGE"
mkdir -p "$seed" "$tmp/finch-rg-seed"
cp "$(command -v rg)" "$tmp/finch-rg-seed/rg"
tar czf "$seed/ripgrep-$RIPGREP_RELEASE-$target.tar.gz" -C "$tmp/finch-rg-seed" rg
rm -rf "$tmp/finch-rg-seed"

echo "installing code-server $VERSION into $PREFIX (once; a few minutes)" >&2
rm -rf "$PREFIX"
mkdir -p "$PREFIX"
started=$(date +%s)
# unsafe_perm: code-server's postinstall refuses to run as root without it; yes: node-gyp asks.
npm_config_unsafe_perm=true npm_config_yes=true \
  npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "code-server@$VERSION" >&2
[ -x "$PROGRAM" ] || { echo "installCodeServer: npm install finished without $PROGRAM" >&2; exit 1; }
touch "$PREFIX/.installed"
echo "installed code-server $VERSION in $(( $(date +%s) - started )) s" >&2
echo "$PROGRAM"
