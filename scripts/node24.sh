# Sourced by scripts that need Node >= 22 (Pulumi's SDK) and the project's Node 24 target.
# When the system Node is older, take Node 24 from the npm registry's `node` package into .tools/
# and put it first on PATH. Idempotent.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ -x "$_root/.tools/node_modules/.bin/node" ]; then
  export PATH="$_root/.tools/node_modules/.bin:$PATH"
fi
if [ "$(_major)" -lt 22 ]; then
  echo "node $(node --version 2>/dev/null || echo none) is older than 22: installing node@24 into .tools/" >&2
  npm install --prefix "$_root/.tools" --no-save --no-audit --no-fund node@24 >&2
  export PATH="$_root/.tools/node_modules/.bin:$PATH"
fi
echo "using node $(node --version)" >&2
unset _root
