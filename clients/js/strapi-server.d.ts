// Types of strapi-server.js: the Strapi 5 plugin object { config, register, bootstrap, destroy }.
import type { StrapiIoPlugin } from "./dist/cjs/strapi-server.js";

declare const plugin: StrapiIoPlugin;
export = plugin;
