'use strict';

// The Strapi 5 plugin entry. Strapi's plugin loader requires `strapi-server.js` (or the
// package's `exports["./strapi-server"]`, which points here) and reads
// { config, register, bootstrap, destroy } from it. The code is in dist/cjs (npm run build).
module.exports = require('./dist/cjs/strapi-server.js').default;
