#!/usr/bin/env bash
# REST response → socket event through a real Strapi 5.54 (production mode, SQLite): the
# fixture app that clients/js/scripts/strapi-e2e.sh builds (run that first; it takes a few
# minutes and ~1 GB of npm installs). Two rows, each on a fresh copy of the fixture database:
#   webhook  — Strapi's webhook (registered by the fixture's bootstrap from FIXTURE_WEBHOOK_URL,
#              as the README's guide does) to the gateway's /webhooks/strapi, default window;
#   plugin   — the @strapi-io/client plugin entry forwarding document lifecycles (no webhook).
#   guide    — the same webhook registered instead by the README's bootstrap snippet (step 2),
#              taken from README.md as written, with STRAPI_IO_WEBHOOK_URL/_TOKEN.
# Each row: N REST creates of a draft-and-publish article (default status: publishes), N
# Content Manager "Publish"es with changes (admin API, an admin registered on the fresh
# database) and N comments, one at a time; prints one JSON line per row (latency ms p50/p95/p99/max, copies).
#
#   clients/js/scripts/strapi-e2e.sh && bench/strapi/latency.sh      # N=50 by default
#
# Env: WORK (default /tmp/strapi-io-e2e, as strapi-e2e.sh), FIXTURE, STRAPI_IO_BIN, N,
# STRAPI_PORT (1337), GATEWAY_PORT (1338).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
FIXTURE=${FIXTURE:-$(cd "$REPO/.." && pwd)/shared/fixtures/strapi5}
WORK=${WORK:-/tmp/strapi-io-e2e}
APP=$WORK/app
BIN=${STRAPI_IO_BIN:-$REPO/target/release/strapi-io}
N=${N:-50}
STRAPI_PORT=${STRAPI_PORT:-1337}
GATEWAY_PORT=${GATEWAY_PORT:-1338}
ADMIN_TOKEN=$(node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))')

[[ -d $APP/node_modules/@strapi/strapi ]] || { echo "no Strapi app in $APP: run clients/js/scripts/strapi-e2e.sh first" >&2; exit 1; }
[[ -x $BIN ]] || { echo "no gateway binary at $BIN" >&2; exit 1; }

# The plugin's lifecycles follow STRAPI_IO_LIFECYCLES (the e2e app hard-codes them on).
sed -i "s/lifecycles: true,/lifecycles: ctx.env.bool('STRAPI_IO_LIFECYCLES', true),/" "$APP/config/plugins.js"
# The measuring client needs socket.io-client.
if [[ ! -d $WORK/bench/node_modules/socket.io-client ]]; then
  mkdir -p "$WORK/bench"
  (cd "$WORK/bench" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error socket.io-client@4)
fi
cp "$REPO/bench/strapi/latency.mjs" "$WORK/bench/latency.mjs"

GATEWAY_PID=
stop_all() {
  APP=$APP "$FIXTURE/reproduce/start.sh" stop || true
  if [[ -n $GATEWAY_PID ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then kill "$GATEWAY_PID"; wait "$GATEWAY_PID" 2>/dev/null || true; fi
  GATEWAY_PID=
}
trap stop_all EXIT

row() {
  local label=$1 lifecycles=$2 webhook_url=$3 guide_url=${4:-}
  cp "$FIXTURE/data.db" "$APP/.tmp/data.db"
  rm -rf "$WORK/gateway-data"
  STRAPI_IO_DIRECTORY=strapi STRAPI_IO_DATABASE_URL="sqlite://$APP/.tmp/data.db" \
  STRAPI_IO_STRAPI_PROJECT_DIR="$APP" STRAPI_IO_JWT_SECRET=fixture-jwt-secret \
  STRAPI_IO_API_TOKEN_SALT=fixture-api-token-salt STRAPI_IO_ADMIN_TOKEN="$ADMIN_TOKEN" \
  STRAPI_IO_WEBHOOK_TOKEN=fixture-webhook-token STRAPI_IO_PORT="$GATEWAY_PORT" \
  STRAPI_IO_DATA_DIR="$WORK/gateway-data" RUST_LOG=${RUST_LOG:-warn} \
    "$BIN" serve >"$WORK/gateway-$label.log" 2>&1 &
  GATEWAY_PID=$!
  for _ in $(seq 1 100); do grep -q "strapi-io listening on" "$WORK/gateway-$label.log" && break; sleep 0.1; done
  APP=$APP PORT=$STRAPI_PORT STRAPI_IO_URL="http://127.0.0.1:$GATEWAY_PORT" STRAPI_IO_ADMIN_TOKEN="$ADMIN_TOKEN" \
    STRAPI_IO_LIFECYCLES=$lifecycles FIXTURE_WEBHOOK_URL=$webhook_url \
    STRAPI_IO_WEBHOOK_URL=$guide_url STRAPI_IO_WEBHOOK_TOKEN=fixture-webhook-token \
    "$FIXTURE/reproduce/start.sh" >/dev/null
  node "$WORK/bench/latency.mjs" "$label" "http://127.0.0.1:$STRAPI_PORT" "http://127.0.0.1:$GATEWAY_PORT" "$N"
  stop_all
}

row webhook false "http://127.0.0.1:$GATEWAY_PORT/webhooks/strapi"
row plugin true ""

# The README's snippet, as written, after the fixture's own bootstrap.
node -e '
  const fs = require("fs");
  const readme = fs.readFileSync(process.argv[1], "utf8");
  const m = readme.match(/```js\n(module\.exports = \{\n  register\(\) \{\},\n  async bootstrap\(\{ strapi \}\) \{\n    const url = process\.env\.STRAPI_IO_WEBHOOK_URL;[\s\S]*?\n\};\n)```/);
  if (!m) throw new Error("no bootstrap snippet in README.md");
  fs.writeFileSync(process.argv[2], "\u0027use strict\u0027;\n" + m[1]);
' "$REPO/README.md" "$APP/src/strapi-io-webhook.js"
cp "$APP/src/index.js" "$WORK/index.fixture.js"
cp "$APP/src/index.js" "$APP/src/index.fixture.js"
cat >"$APP/src/index.js" <<'JS'
'use strict';
const fixture = require('./index.fixture.js');
const strapiIo = require('./strapi-io-webhook.js');
module.exports = {
  register(ctx) { return fixture.register && fixture.register(ctx); },
  async bootstrap(ctx) { await fixture.bootstrap(ctx); await strapiIo.bootstrap(ctx); },
};
JS
row guide false "" "http://127.0.0.1:$GATEWAY_PORT/webhooks/strapi"
cp "$WORK/index.fixture.js" "$APP/src/index.js"
rm -f "$APP/src/index.fixture.js" "$APP/src/strapi-io-webhook.js"
