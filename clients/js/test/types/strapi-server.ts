// Type test of the plugin entry and the lifecycle middleware's options.

import plugin from "@strapi-io/client/strapi-server";
import { createEntrySender, createLifecycleMiddleware, type PluginConfig } from "@strapi-io/client";

export const config: PluginConfig = { url: "http://127.0.0.1:1338", adminToken: "t", lifecycles: { publishEvent: "publish" } };
plugin.config.validator(config);
export const register: (args: { strapi: Parameters<typeof plugin.register>[0]["strapi"] }) => void = plugin.register;

// Managed: nothing is required; the gateway's own settings pass through.
export const managed: PluginConfig = {
  contentTypes: ["api::article.article"],
  gateway: { port: 1338, logLevel: "warn", restart: { firstDelayMs: 500, maxDelayMs: 10000 }, stopGraceMs: 5000 },
  proxy: true,
  settings: { security: { trustedProxies: ["10.0.0.1"] } },
};
// @ts-expect-error gateway.port is a number
export const badPort: PluginConfig = { gateway: { port: "1338" } };
// @ts-expect-error proxy is a boolean
export const badProxy: PluginConfig = { proxy: "on" };
// @ts-expect-error publish maps to "update" or "publish" only
export const badEvent: PluginConfig = { url: "u", adminToken: "t", lifecycles: { publishEvent: "published" } };

const io = createEntrySender({ url: "http://127.0.0.1:1338", adminToken: "t" });
export const middleware = createLifecycleMiddleware({
  strapi: { log: { error: (m: string) => console.error(m) } },
  io,
  lifecycles: { contentTypes: ["api::article.article"], actions: ["create", "delete"] },
});
// @ts-expect-error findMany is not a forwarded action
createLifecycleMiddleware({ strapi: { log: console }, io, lifecycles: { actions: ["findMany"] } });
