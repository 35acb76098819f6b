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
# Then managed mode (scripts/strapi-e2e-managed.mjs): @strapi-io/gateway installed from the
# tarballs of scripts/package-npm (target/npm; built for this machine's platform when
# missing), the standalone gateway stopped, no webhook and no STRAPI_IO_* variable given to
# Strapi: Strapi's start runs the gateway itself. In development mode (NODE_ENV=development,
# the proxy on) clients connect to Strapi's origin; in production mode (proxy off) to the
# gateway's port. Each time: how it was started (binary of the platform package, child of
# Strapi, secrets from Strapi's config in its environment only), every action heard exactly
# once per audience (strapi-e2e-actions.mjs), the gateway killed mid-traffic (Strapi serves
# on, back within 5 s, the outbox delivers the write made meanwhile), and Strapi stopped
# (SIGTERM; in production, last, SIGKILL) takes the gateway with it.
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
# gateway up afterwards. MANAGED_ONLY=1 runs the managed checks only. NPM_DIR (default <repo>/target/npm): the @strapi-io/gateway tarballs.
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
NPM_DIR=${NPM_DIR:-$REPO/target/npm}
GATEWAY_VERSION=$(node -p "require('$REPO/npm/gateway/package.json').version")
ARCH=$(node -p process.arch)
case $ARCH in x64) RUST_TARGET=x86_64-unknown-linux-musl ;; arm64) RUST_TARGET=aarch64-unknown-linux-musl ;; *) echo "no gateway package for $ARCH" >&2; exit 1 ;; esac
GATEWAY_TARBALLS=("$NPM_DIR/strapi-io-gateway-$GATEWAY_VERSION.tgz" "$NPM_DIR/strapi-io-gateway-linux-$ARCH-$GATEWAY_VERSION.tgz")
if [[ ! -f ${GATEWAY_TARBALLS[0]} || ! -f ${GATEWAY_TARBALLS[1]} ]]; then
  echo "== scripts/package-npm (the @strapi-io/gateway tarballs for linux-$ARCH)"
  OUT=$NPM_DIR TARGETS=$RUST_TARGET "$REPO/scripts/package-npm"
fi

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
      config: ctx.env.bool('E2E_STRAPI_IO_MANAGED', false)
        ? {
            // Managed: the plugin runs the gateway, configured from Strapi itself. The first
            // restart waits 1.5 s (default 0.5) so that the outage check's write surely lands
            // while the gateway is down.
            gateway: { port: ctx.env.int('E2E_GATEWAY_PORT'), restart: { firstDelayMs: 1500 } },
          }
        : {
            url: ctx.env('STRAPI_IO_URL'),
            adminToken: ctx.env('STRAPI_IO_ADMIN_TOKEN'),
            lifecycles: ctx.env.bool('STRAPI_IO_LIFECYCLES', true),
          },
    },
  };
};
EOF

echo "== npm install (the app, better-sqlite3 12.8.0, the package tarball, @strapi-io/gateway $GATEWAY_VERSION for linux-$ARCH)"
(cd "$APP" && npm install --no-audit --no-fund --loglevel=error && \
  npm install --no-audit --no-fund --loglevel=error better-sqlite3@12.8.0 "$TARBALL" "${GATEWAY_TARBALLS[@]}")

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

if [[ ${MANAGED_ONLY:-} != 1 ]]; then
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
fi

# ---------------------------------------------------------------------------------------
# Managed mode: Strapi's start runs the gateway (@strapi-io/gateway), nothing given by hand.

SHELL_PASSED=0
SHELL_FAILED=0
shell_check() { # name command…: prints ok/FAIL like the check scripts
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; SHELL_PASSED=$((SHELL_PASSED + 1)); else echo "FAIL $name"; SHELL_FAILED=$((SHELL_FAILED + 1)); fi
}
managed_gateway_pid() {
  grep -o 'starting the gateway (pid [0-9]*' "$APP/strapi.log" | tail -1 | grep -o '[0-9]*$'
}
gone_within_5s() {
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  return 1
}
# Strapi with the plugin in managed mode: no STRAPI_IO_* variable, no webhook; NODE_ENV=$1.
start_managed() {
  local mode=$1
  local unset=()
  for v in $(compgen -e | grep '^STRAPI_IO_' || true); do unset+=(-u "$v"); done
  (cd "$APP" && : >strapi.log && {
    env "${unset[@]}" NODE_ENV="$mode" STRAPI_TELEMETRY_DISABLED=true PORT="$STRAPI_PORT" \
      E2E_STRAPI_IO_MANAGED=true E2E_GATEWAY_PORT="$GATEWAY_PORT" \
      setsid node node_modules/@strapi/strapi/bin/strapi.js start >>strapi.log 2>&1 </dev/null &
    echo $! >strapi.pid
  })
  for _ in $(seq 1 240); do
    if grep -q '\[fixture\] ready' "$APP/strapi.log" && grep -q '\[strapi-io\] strapi-io gateway ready on' "$APP/strapi.log" &&
      curl -s -o /dev/null "http://127.0.0.1:$STRAPI_PORT/_health"; then
      echo "strapi ($mode) up pid=$(cat "$APP/strapi.pid"), gateway pid=$(managed_gateway_pid)"
      return 0
    fi
    kill -0 "$(cat "$APP/strapi.pid")" 2>/dev/null || { echo "strapi died"; tail -60 "$APP/strapi.log"; exit 1; }
    sleep 0.5
  done
  echo "timeout"; tail -60 "$APP/strapi.log"; exit 1
}
managed_checks() { # NODE_ENV label client-url proxy(1|0)
  local mode=$1 label=$2 client=$3 proxy=$4
  local common=(STRAPI_URL="http://127.0.0.1:$STRAPI_PORT" CLIENT_URL="$client" GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
    STRAPI_LOG="$APP/strapi.log" STRAPI_PID="$(cat "$APP/strapi.pid")" APP="$APP" PROXY="$proxy" LABEL="$label")
  (cd "$PKG" && env "${common[@]}" PHASE=start node scripts/strapi-e2e-managed.mjs)
  (cd "$PKG" && STRAPI_URL="http://127.0.0.1:$STRAPI_PORT" GATEWAY_URL="$client" SOURCE="$label" node scripts/strapi-e2e-actions.mjs)
  (cd "$PKG" && env "${common[@]}" PHASE=outage node scripts/strapi-e2e-managed.mjs)
}

echo "== managed, development mode (the proxy on): Strapi's start runs the gateway; clients connect to Strapi's origin"
APP=$APP "$FIXTURE/reproduce/start.sh" stop
stop_gateway
start_managed development
managed_checks development managed-dev "http://127.0.0.1:$STRAPI_PORT" 1
GPID=$(managed_gateway_pid)
APP=$APP "$FIXTURE/reproduce/start.sh" stop
shell_check "[managed-dev] Strapi stopped (SIGTERM): its gateway (pid $GPID) is gone" gone_within_5s "$GPID"
shell_check "[managed-dev] the gateway stopped cleanly (exit code 0)" grep -q '\[strapi-io\] gateway stopped (code 0)' "$APP/strapi.log"

echo "== managed, production mode (the proxy off): clients connect to the gateway's port"
start_managed production
managed_checks production managed-prod "http://127.0.0.1:$GATEWAY_PORT" 0
GPID=$(managed_gateway_pid)
kill -KILL "$(cat "$APP/strapi.pid")"
shell_check "[managed-prod] Strapi killed (SIGKILL): its gateway (pid $GPID) sees its stdin close and is gone" gone_within_5s "$GPID"
rm -f "$APP/strapi.pid"
echo "$SHELL_PASSED passed, $SHELL_FAILED failed (Strapi's stop and crash)"
[[ $SHELL_FAILED == 0 ]]
