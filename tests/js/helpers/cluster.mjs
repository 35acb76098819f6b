// Two gateways on one throwaway Redis, for a describe block: useTwoNodes() registers the
// before/after hooks and returns { redis, a, b }, filled once both nodes see each other.

import { after, before } from "node:test";
import { stats } from "./http.mjs";
import { startRedis } from "./redis.mjs";
import { startServerWith } from "./server.mjs";
import { waitUntil } from "./wait.mjs";

/** Two demo gateways (`tables` as startServerWith takes them) sharing a new Redis. */
export function useTwoNodes(tables = {}) {
  const ctx = {};
  before(async () => {
    ctx.redis = await startRedis();
    const env = { STRAPI_IO_REDIS_URL: ctx.redis.url };
    ctx.a = await startServerWith(tables, { env });
    ctx.b = await startServerWith(tables, { env });
    await waitUntil(async () => (await stats(ctx.a.url)).cluster?.nodes?.length === 2, { ms: 10_000, what: "two nodes" });
  });
  after(async () => {
    await ctx.a?.stop();
    await ctx.b?.stop();
    await ctx.redis?.stop();
  });
  return ctx;
}
