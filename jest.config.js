/** Jest projects mirror the source tree: infra, policy, services, e2e. */
const tsJest = ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: false }];

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
    project("services"),
    project("e2e"),
  ].filter((p) => require("node:fs").existsSync(p.roots[0].replace("<rootDir>", __dirname))),
};
