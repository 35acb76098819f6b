#!/usr/bin/env bash
# End-to-end run of @strapi-io/client inside a real Strapi 5 app: the fixture app of
# shared/fixtures/strapi5 (Strapi 5.54.0, SQLite), with this package installed from its
# `npm pack` tarball as the Strapi plugin `strapi-io` (lifecycles on), next to the strapi-io
# gateway reading the app's database. Checks (scripts/strapi-e2e-check.mjs): the plugin's
# bootstrap finds the gateway; `strapi.$io` called from the app's code works; REST create /
# update / delete and Document Service publish / unpublish reach a socket.io-client once each,
# sanitized. Then scripts/strapi-e2e-actions.mjs drives every action (REST create as a draft,
# Content Manager publish, REST update, Content Manager draft save, unpublish, publish, a
# comment on the published article, delete) twice: with events from the plugin entry's
# forwarder, then with Strapi's webhook instead (lifecycles off) — each audience must hear
# exactly one correctly sanitized event per action on both paths. Last,
# scripts/strapi-e2e-session.mjs signs the fixture's reader in (users-permissions refresh mode,
# httpOnly refresh cookie, access tokens shortened to ACCESS_TOKEN_LIFESPAN seconds) and keeps a
# socket connected through connectWithSession + strapiRefresh past its tokens' expiry. Last,
# scripts/strapi-e2e-access.mjs makes admin changes through Strapi's admin API (a user blocked,
# a role changed, Public's read permission removed, API tokens regenerated and deleted) and
# measures how long each takes to reach a connected socket, nobody calling the gateway's
# invalidate route. Strapi runs in production mode (`strapi start` after `strapi build`).
#
# NOT part of scripts/test: it needs the npm registry (create-strapi, ~1 GB of node_modules),
# an admin-panel build and several minutes. Run it by hand:
#
#   cargo build --release -p strapi-io-server      # if target/release/strapi-io is missing
#   clients/js/scripts/strapi-e2e.sh
#
# Env: WORK (default /tmp/strapi-io-e2e; the app is kept there and reused by the next run),
# FIXTURE (default <repo>/../shared/fixtures/strapi5), STRAPI_IO_BIN, STRAPI_PORT (1337),
# GATEWAY_PORT (1338), ACCESS_TOKEN_LIFESPAN (20), KEEP_RUNNING=1 to leave Strapi and the
# gateway up afterwards.
set -euo pipefail

PKG=$(cd "$(dirname "$0")/.." && pwd)
REPO=$(cd "$PKG/../.." && pwd)
FIXTURE=${FIXTURE:-$(cd "$REPO/.." && pwd)/shared/fixtures/strapi5}
WORK=${WORK:-/tmp/strapi-io-e2e}
APP=$WORK/app
BIN=${STRAPI_IO_BIN:-$REPO/target/release/strapi-io}
STRAPI_PORT=${STRAPI_PORT:-1337}
GATEWAY_PORT=${GATEWAY_PORT:-1338}
STRAPI_VERSION=5.54.0
ACCESS_TOKEN_LIFESPAN=${ACCESS_TOKEN_LIFESPAN:-20}
ADMIN_TOKEN=$(node -e 'console.log(require("crypto").randomBytes(24).toString("hex"))')

[[ -x $BIN ]] || { echo "no gateway binary at $BIN: cargo build --release -p strapi-io-server" >&2; exit 1; }
[[ -f $FIXTURE/data.db ]] || { echo "no fixture at $FIXTURE (set FIXTURE)" >&2; exit 1; }
mkdir -p "$WORK"

GATEWAY_PID=
cleanup() {
  if [[ ${KEEP_RUNNING:-} == 1 ]]; then
    echo "== left running: Strapi http://127.0.0.1:$STRAPI_PORT (pid $(cat "$APP/strapi.pid" 2>/dev/null)), gateway http://127.0.0.1:$GATEWAY_PORT (pid $GATEWAY_PID)"
    return
  fi
  [[ -d $APP ]] && APP=$APP "$FIXTURE/reproduce/start.sh" stop || true
  if [[ -n $GATEWAY_PID ]] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
    kill "$GATEWAY_PID"
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

echo "== build and pack @strapi-io/client"
(cd "$PKG" && npm ci --no-audit --no-fund --loglevel=error && npm run build >/dev/null)
TARBALL=$(cd "$PKG" && npm pack --silent --pack-destination "$WORK" | tail -1)
TARBALL=$WORK/$TARBALL

if [[ ! -d $APP/node_modules/@strapi/strapi ]]; then
  echo "== create the Strapi $STRAPI_VERSION app in $APP (npm registry, a few minutes)"
  rm -rf "$APP"
  (cd "$WORK" && npx --yes "create-strapi@$STRAPI_VERSION" app --no-run --skip-cloud --no-example --js \
    --use-npm --no-git-init --skip-db --no-install --non-interactive)
fi

echo "== lay the fixture into the app (its README \"Reproduce\")"
cp -R "$FIXTURE/src/." "$APP/src/"
cp -R "$FIXTURE/config/." "$APP/config/"
cp "$FIXTURE/reproduce/index.js" "$APP/src/index.js"
mkdir -p "$APP/src/api/rig" && cp -R "$FIXTURE/reproduce/rig-api/." "$APP/src/api/rig/"
cp "$FIXTURE/reproduce/env.fixture" "$APP/.env"
printf 'PORT=%s\n' "$STRAPI_PORT" >>"$APP/.env"
mkdir -p "$APP/.tmp" && cp "$FIXTURE/data.db" "$APP/.tmp/data.db"

# REST routes for the fixture's types (the fixture keeps only their schemas).
for name in article author comment; do
  for kind in routes controllers services; do
    mkdir -p "$APP/src/api/$name/$kind"
    factory=$(case $kind in routes) echo createCoreRouter;; controllers) echo createCoreController;; services) echo createCoreService;; esac)
    printf "'use strict';\nconst { factories } = require('@strapi/strapi');\nmodule.exports = factories.%s('api::%s.%s');\n" \
      "$factory" "$name" "$name" >"$APP/src/api/$name/$kind/$name.js"
  done
done

# App code calling strapi.$io, as an existing app's controllers do: POST /api/e2e/io/:method
# with {args} calls strapi.$io[method](...args). Test-only (auth: false): never in a real app.
mkdir -p "$APP/src/api/e2e/routes" "$APP/src/api/e2e/controllers"
cat >"$APP/src/api/e2e/routes/e2e.js" <<'EOF'
'use strict';
module.exports = {
  routes: [{ method: 'POST', path: '/e2e/io/:method', handler: 'e2e.io', config: { auth: false } }],
};
EOF
cat >"$APP/src/api/e2e/controllers/e2e.js" <<'EOF'
'use strict';
const METHODS = ['emit', 'raw', 'joinRoom', 'leaveRoom', 'getSocketsInRoom', 'sendPrivateMessage', 'broadcast',
  'emitToNamespace', 'disconnectSocket', 'subscribeToEntity', 'unsubscribeFromEntity', 'getEntitySubscriptions',
  'emitToEntity', 'getEntityRoomSockets'];
module.exports = {
  async io(ctx) {
    const { method } = ctx.params;
    if (!METHODS.includes(method)) return ctx.badRequest(`unknown $io method ${method}`);
    try {
      ctx.body = { data: (await strapi.$io[method](...((ctx.request.body || {}).args || []))) ?? null };
    } catch (e) {
      ctx.status = e.status || 500;
      ctx.body = { data: null, error: { status: e.status, name: e.name, message: e.message } };
    }
  },
};
EOF

# config/plugins.js: the fixture's, plus this plugin; UP_ACCESS_TOKEN_LIFESPAN (seconds), when
# set, shortens users-permissions' access tokens (sessions.accessTokenLifespan, refresh mode).
if ! grep -q "strapi-io" "$APP/config/plugins.js"; then
  mv "$APP/config/plugins.js" "$APP/config/plugins.fixture.js"
fi
cat >"$APP/config/plugins.js" <<'EOF'
'use strict';
const fixture = require('./plugins.fixture.js');
module.exports = (ctx) => {
  const plugins = fixture(ctx);
  const lifespan = ctx.env.int('UP_ACCESS_TOKEN_LIFESPAN');
  if (lifespan) {
    const up = plugins['users-permissions'].config;
    up.sessions = { ...up.sessions, accessTokenLifespan: lifespan };
  }
  return {
    ...plugins,
    'strapi-io': {
      config: {
        url: ctx.env('STRAPI_IO_URL'),
        adminToken: ctx.env('STRAPI_IO_ADMIN_TOKEN'),
        lifecycles: ctx.env.bool('STRAPI_IO_LIFECYCLES', true),
      },
    },
  };
};
EOF

echo "== npm install (the app, better-sqlite3 12.8.0, and the package tarball)"
(cd "$APP" && npm install --no-audit --no-fund --loglevel=error && \
  npm install --no-audit --no-fund --loglevel=error better-sqlite3@12.8.0 "$TARBALL")

echo "== strapi build (admin panel)"
(cd "$APP" && NODE_ENV=production npx strapi build >"$WORK/build.log" 2>&1) || { tail -40 "$WORK/build.log"; exit 1; }

# The gateway on the app's database; Strapi's REST API for published rows of related documents.
start_gateway() {
  local log=$1
  shift
  env STRAPI_IO_DIRECTORY=strapi \
    STRAPI_IO_DATABASE_URL="sqlite://$APP/.tmp/data.db" \
    STRAPI_IO_STRAPI_PROJECT_DIR="$APP" \
    STRAPI_IO_JWT_SECRET=fixture-jwt-secret \
    STRAPI_IO_API_TOKEN_SALT=fixture-api-token-salt \
    STRAPI_IO_ADMIN_TOKEN="$ADMIN_TOKEN" \
    STRAPI_IO_STRAPI_URL="http://127.0.0.1:$STRAPI_PORT" \
    STRAPI_IO_STRAPI_TOKEN=fixture-token-dashboard \
    STRAPI_IO_PORT="$GATEWAY_PORT" \
    STRAPI_IO_DATA_DIR="$WORK/gateway-data" \
    RUST_LOG=${RUST_LOG:-warn} \
    "$@" "$BIN" serve >"$log" 2>&1 &
  GATEWAY_PID=$!
  for _ in $(seq 1 100); do
    grep -q "strapi-io listening on" "$log" && break
    kill -0 "$GATEWAY_PID" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
  done
  grep -q "strapi-io listening on" "$log" || { echo "gateway did not start"; cat "$log"; exit 1; }
}
stop_gateway() {
  kill "$GATEWAY_PID" 2>/dev/null || true
  wait "$GATEWAY_PID" 2>/dev/null || true
  GATEWAY_PID=
}

echo "== start the gateway on :$GATEWAY_PORT (strapi directory on the app's database)"
rm -rf "$WORK/gateway-data"
start_gateway "$WORK/gateway.log"

echo "== start Strapi on :$STRAPI_PORT with the plugin (lifecycles forwarded)"
APP=$APP PORT=$STRAPI_PORT STRAPI_IO_URL="http://127.0.0.1:$GATEWAY_PORT" STRAPI_IO_ADMIN_TOKEN="$ADMIN_TOKEN" \
  "$FIXTURE/reproduce/start.sh"

echo "== checks"
(cd "$PKG" && STRAPI_URL="http://127.0.0.1:$STRAPI_PORT" GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" \
  STRAPI_LOG="$APP/strapi.log" node scripts/strapi-e2e-check.mjs)

echo "== every action, events from the plugin entry's forwarder"
(cd "$PKG" && STRAPI_URL="http://127.0.0.1:$STRAPI_PORT" GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" SOURCE=plugin \
  node scripts/strapi-e2e-actions.mjs)

echo "== every action again, events from Strapi's webhook (lifecycles off, the fixture's bootstrap registers the webhook)"
echo "   (Strapi's access tokens live ${ACCESS_TOKEN_LIFESPAN} s from here on, for the session checks below)"
APP=$APP "$FIXTURE/reproduce/start.sh" stop
stop_gateway
start_gateway "$WORK/gateway-webhook.log" STRAPI_IO_WEBHOOK_TOKEN=fixture-webhook-token
APP=$APP PORT=$STRAPI_PORT STRAPI_IO_URL="http://127.0.0.1:$GATEWAY_PORT" STRAPI_IO_ADMIN_TOKEN="$ADMIN_TOKEN" \
  STRAPI_IO_LIFECYCLES=false FIXTURE_WEBHOOK_URL="http://127.0.0.1:$GATEWAY_PORT/webhooks/strapi" \
  UP_ACCESS_TOKEN_LIFESPAN="$ACCESS_TOKEN_LIFESPAN" "$FIXTURE/reproduce/start.sh"
(cd "$PKG" && STRAPI_URL="http://127.0.0.1:$STRAPI_PORT" GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" SOURCE=webhook \
  node scripts/strapi-e2e-actions.mjs)

echo "== a reader's session through connectWithSession + strapiRefresh (refresh mode, httpOnly cookie, ${ACCESS_TOKEN_LIFESPAN} s access tokens)"
(cd "$PKG" && STRAPI_URL="http://127.0.0.1:$STRAPI_PORT" GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" \
  ACCESS_TOKEN_LIFESPAN="$ACCESS_TOKEN_LIFESPAN" node scripts/strapi-e2e-session.mjs)

echo "== access follows Strapi: admin changes (block, role, permission, API tokens) reach connected sockets without invalidate"
(cd "$PKG" && STRAPI_URL="http://127.0.0.1:$STRAPI_PORT" GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" \
  GATEWAY_ADMIN_TOKEN="$ADMIN_TOKEN" node scripts/strapi-e2e-access.mjs)
