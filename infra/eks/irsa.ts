/**
 * IAM roles for Kubernetes service accounts (IRSA): an IAM role that the named service accounts
 * of the cluster (one, or an add-on's controller and node accounts) may assume through the
 * cluster's OIDC provider, with the AWS permissions of one add-on (the EBS and EFS CSI drivers,
 * the AWS Load Balancer Controller).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** Who may assume an IRSA role. */
export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

/**
 * The Helm values of a chart-created service account bound to an IRSA role: EKS gives its pods
 * the role's credentials through the `eks.amazonaws.com/role-arn` annotation.
 */
export function irsaServiceAccountValues(
  account: ServiceAccountRef,
  roleArn: string,
): { create: true; name: string; annotations: Record<string, string> } {
  return { create: true, name: account.name, annotations: { "eks.amazonaws.com/role-arn": roleArn } };
}

/**
 * The trust policy: `sts:AssumeRoleWithWebIdentity` through the cluster's OIDC provider, for the
 * tokens of the named service accounts (exact names, no wildcard) and the STS audience only.
 *
 * @param providerArn the IAM OIDC provider's ARN
 * @param issuer the issuer without `https://` (`oidc.eks.<region>.amazonaws.com/id/<id>`)
 */
export function irsaTrustPolicy(
  providerArn: string,
  issuer: string,
  accounts: readonly ServiceAccountRef[],
): string {
  if (accounts.length === 0) throw new Error("an IRSA role must trust at least one service account");
  const subjects = accounts.map((a) => `system:serviceaccount:${a.namespace}:${a.name}`);
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: providerArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            // A list matches any of its values.
            [`${issuer}:sub`]: subjects.length === 1 ? subjects[0] : subjects,
            [`${issuer}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ],
  });
}

/** Arguments of `IrsaRole`. */
export interface IrsaRoleArgs {
  readonly oidcProviderArn: pulumi.Input<string>;
  /** The OIDC issuer without `https://`. */
  readonly oidcIssuer: pulumi.Input<string>;
  /** The service accounts that may assume the role. */
  readonly serviceAccounts: readonly ServiceAccountRef[];
  /** AWS managed policies to attach. */
  readonly managedPolicyArns?: readonly string[];
  /** A policy document of this role's own, as JSON. */
  readonly policy?: pulumi.Input<string>;
}

/** One IRSA role and its permissions. */
export class IrsaRole extends pulumi.ComponentResource {
  readonly role: aws.iam.Role;
  /** The ARN to annotate the service account with (`eks.amazonaws.com/role-arn`). */
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: IrsaRoleArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:IrsaRole", name, {}, opts);
    this.role = new aws.iam.Role(
      `${name}-role`,
      {
        description: `IRSA role of ${args.serviceAccounts.map((a) => `${a.namespace}/${a.name}`).join(", ")}`,
        assumeRolePolicy: pulumi
          .all([args.oidcProviderArn, args.oidcIssuer])
          .apply(([arn, issuer]) => irsaTrustPolicy(arn, issuer, args.serviceAccounts)),
      },
      { parent: this },
    );
    (args.managedPolicyArns ?? []).forEach(
      (policyArn, i) =>
        new aws.iam.RolePolicyAttachment(
          `${name}-managed-${i}`,
          { role: this.role.name, policyArn },
          { parent: this },
        ),
    );
    if (args.policy !== undefined) {
      const policy = new aws.iam.Policy(`${name}-policy`, { policy: args.policy }, { parent: this });
      new aws.iam.RolePolicyAttachment(
        `${name}-own`,
        { role: this.role.name, policyArn: policy.arn },
        { parent: this },
      );
    }
    this.arn = this.role.arn;
    this.registerOutputs({ arn: this.arn });
  }
}
