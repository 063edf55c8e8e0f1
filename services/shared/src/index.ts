/**
 * `@mcp-platform/shared`: the service kit the router, mcp-server and network-monitor share.
 * esbuild bundles it into each service (scripts/build-services.mjs aliases the package name to
 * this file); its npm dependencies stay external and are installed in the image.
 */
export * from "./bounded-read";
export * from "./consul";
export * from "./cors";
export * from "./env";
export * from "./env-fields";
export * from "./health";
export * from "./idle";
export * from "./logger";
export * from "./metrics";
export * from "./run-service";
export * from "./service-app";
export * from "./shutdown";
export * from "./request-guard";
export * from "./streamable-http";
