/**
 * Small builders so every rule reads the same way: which type tokens it looks at, and a pure
 * check that returns its findings. The builders adapt that to @pulumi/policy.
 */
import type {
  EnforcementLevel,
  PolicyConfigSchema,
  ReportViolation,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import type { PolicySubject } from "./resources";

/** Options every rule factory takes. */
export interface RuleOptions {
  readonly enforcementLevel?: EnforcementLevel;
}

/** A resource rule: the types it applies to and a check returning violation messages. */
export interface ResourceRule<C extends object> {
  readonly name: string;
  readonly description: string;
  readonly types: readonly string[];
  readonly configSchema?: PolicyConfigSchema;
  readonly check: (r: PolicySubject, config: C) => string[];
}

/** Adapt a resource rule to a `ResourceValidationPolicy` (mandatory unless told otherwise). */
export function resourcePolicy<C extends object>(
  rule: ResourceRule<C>,
  opts: RuleOptions = {},
): ResourceValidationPolicy {
  const types = new Set(rule.types);
  return {
    name: rule.name,
    description: rule.description,
    enforcementLevel: opts.enforcementLevel ?? "mandatory",
    ...(rule.configSchema ? { configSchema: rule.configSchema } : {}),
    validateResource: (args, report: ReportViolation) => {
      if (!types.has(args.type)) args.notApplicable(`${rule.name} does not look at ${args.type}`);
      for (const message of rule.check(
        { type: args.type, name: args.name, props: args.props },
        args.getConfig<C>(),
      )) {
        report(message);
      }
    },
  };
}

/** A stack rule: a check over every resource of the stack. */
export interface StackRule<C extends object> {
  readonly name: string;
  readonly description: string;
  readonly configSchema?: PolicyConfigSchema;
  readonly check: (resources: readonly PolicySubject[], config: C) => string[];
}

/** Adapt a stack rule to a `StackValidationPolicy` (mandatory unless told otherwise). */
export function stackPolicy<C extends object>(
  rule: StackRule<C>,
  opts: RuleOptions = {},
): StackValidationPolicy {
  return {
    name: rule.name,
    description: rule.description,
    enforcementLevel: opts.enforcementLevel ?? "mandatory",
    ...(rule.configSchema ? { configSchema: rule.configSchema } : {}),
    validateStack: (args, report: ReportViolation) => {
      const subjects = args.resources.map((r) => ({ type: r.type, name: r.name, props: r.props }));
      for (const message of rule.check(subjects, args.getConfig<C>())) report(message);
    },
  };
}
