/** Jest projects mirror the source tree: infra, policy, services, e2e. */
const tsJest = ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: false }];
/** ts-jest for the few ESM-only .js packages Jest must load through its CommonJS runtime. */
const tsJestEsmJs = ["ts-jest", { tsconfig: { allowJs: true }, diagnostics: false }];

/** @param {string} name @param {Record<string, unknown>} [extra] */
const project = (name, extra = {}) => ({
  displayName: name,
  testEnvironment: "node",
  roots: [`<rootDir>/test/${name}`],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": tsJest },
  ...extra,
});

module.exports = {
  projects: [
    project("infra"),
    project("policy"),
    project("services", {
      // fastify's app.inject() (light-my-request) requires `cookie`, which ships ESM only. Jest's
      // CommonJS runtime cannot load ESM without --experimental-vm-modules, so transpile it.
      transform: { "^.+\\.ts$": tsJest, "/node_modules/cookie/.+\\.js$": tsJestEsmJs },
      transformIgnorePatterns: ["/node_modules/(?!cookie/)"],
    }),
    project("e2e"),
  ].filter((p) => require("node:fs").existsSync(p.roots[0].replace("<rootDir>", __dirname))),
};
