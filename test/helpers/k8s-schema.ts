/**
 * Validates the Kubernetes objects a program declares against the Kubernetes API schemas, using
 * the kept `kubernetes-models` package (run in a child Node process: the package is ESM only).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Recorded } from "./pulumi-mocks";

/** Kubernetes provider types that are not API objects (a Helm release lives in its chart). */
export const NOT_API_OBJECTS = ["kubernetes:helm.sh/v3:Release"];

/** A Kubernetes object as the API server would receive it. */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name?: string; readonly namespace?: string; [k: string]: unknown };
  readonly [field: string]: unknown;
}

/** The result of validating one object: `errors` is null when it is valid. */
export interface SchemaResult {
  readonly ref: string;
  readonly errors: string[] | null;
}

/** Pulumi's marker of a secret value in serialized inputs. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** A recorded input with secrets unwrapped to their plain values. */
function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (SECRET_SIG in obj) return plain(obj.value);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/**
 * Every recorded `kubernetes:*` resource as the object the provider would send. Throws for a
 * Kubernetes type that carries no `apiVersion`/`kind` and is not a known non-object, so nothing
 * slips past validation unseen.
 */
export function kubernetesObjects(resources: readonly Recorded[]): KubernetesObject[] {
  return resources
    .filter((r) => r.type.startsWith("kubernetes:") && !NOT_API_OBJECTS.includes(r.type))
    .map((r) => {
      const obj = plain(r.inputs) as Record<string, unknown>;
      if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
        throw new Error(`${r.type} ${r.name} has no apiVersion/kind in its inputs`);
      }
      return obj as unknown as KubernetesObject;
    });
}

/** Validate objects with `kubernetes-models`; one result per object, in order. */
export function validateKubernetesObjects(objects: readonly KubernetesObject[]): SchemaResult[] {
  const r = spawnSync(process.execPath, [join(__dirname, "k8s-validate.mjs")], {
    input: JSON.stringify(objects),
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`k8s-validate.mjs failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as SchemaResult[];
}
