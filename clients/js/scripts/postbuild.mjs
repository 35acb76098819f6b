// Marks each build directory with its module system, so that Node reads dist/esm/*.js as
// ES modules and dist/cjs/*.js as CommonJS whatever the package's own "type" says.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

for (const [dir, type] of [["esm", "module"], ["cjs", "commonjs"]]) {
  const path = fileURLToPath(new URL(`../dist/${dir}/package.json`, import.meta.url));
  writeFileSync(path, `${JSON.stringify({ type }, null, 2)}\n`);
}
