#!/usr/bin/env node
// `npm run stdio:lock`: see scripts/stdio-manifest.ts.
import "./require-node.mjs";
import { loadModule, root } from "./local/load-launcher.mjs";

const { lockStdio } = await loadModule("scripts/stdio-manifest.ts");
try {
  const { stacks, packages } = lockStdio(root);
  console.log(
    `locked ${packages.length} stdio package(s) of ${stacks.map((s) => `Pulumi.${s}.yaml`).join(", ")} ` +
      `in services/mcp-server/stdio: ${packages.join(", ") || "none"}`,
  );
} catch (error) {
  console.error(`stdio:lock: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
