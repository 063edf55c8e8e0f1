// Validates Kubernetes objects against the Kubernetes OpenAPI schemas, with the kept
// `kubernetes-models` package (ESM only, so it runs here, outside jest's CommonJS modules).
// stdin: a JSON array of objects. stdout: a JSON array of { ref, errors } in the same order.
import { readFileSync } from "node:fs";

const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const obj of objects) {
  const ref = `${obj.kind}/${obj.metadata?.namespace ?? "-"}/${obj.metadata?.name ?? "?"}`;
  // `apps/v1` -> kubernetes-models/apps/v1/<Kind>; the core group `v1` -> kubernetes-models/v1/<Kind>.
  const specifier = `kubernetes-models/${obj.apiVersion}/${obj.kind}`;
  let Model;
  try {
    Model = (await import(specifier))[obj.kind];
  } catch {
    results.push({ ref, errors: [`no schema for ${obj.apiVersion} ${obj.kind}`] });
    continue;
  }
  try {
    new Model(obj).validate();
    results.push({ ref, errors: null });
  } catch (e) {
    const errors = Array.isArray(e.errors)
      ? e.errors.map((x) => `${x.instancePath || "/"} ${x.message}`)
      : [String(e.message)];
    results.push({ ref, errors });
  }
}
process.stdout.write(JSON.stringify(results));
