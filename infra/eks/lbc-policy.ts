/**
 * The AWS permissions of the AWS Load Balancer Controller, as a pure policy document grouped by
 * what the controller does with them. It follows the controller's published installation policy
 * for the v2.13 line (chart 1.13.x, `eks.charts.awsLoadBalancerController`); review it when that
 * pin moves, since new controller features add actions.
 *
 * The controller tags everything it creates with `elbv2.k8s.aws/cluster`; the write permissions are
 * scoped to resources that carry that tag, so it cannot touch load balancers it did not create.
 */

/** The tag the controller puts on every security group, load balancer and target group it owns. */
export const CONTROLLER_TAG = "elbv2.k8s.aws/cluster";

type Statement = {
  Effect: "Allow";
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
};

const allow = (
  action: string | string[],
  resource: string | string[] = "*",
  condition?: Statement["Condition"],
): Statement => ({
  Effect: "Allow",
  Action: action,
  Resource: resource,
  ...(condition ? { Condition: condition } : {}),
});

/** The request sets the controller's tag (creating something the controller will own). */
const REQUEST_TAGGED = { Null: { [`aws:RequestTag/${CONTROLLER_TAG}`]: "false" } };
/** The resource carries the controller's tag (the controller owns it). */
const OWNED = { Null: { [`aws:ResourceTag/${CONTROLLER_TAG}`]: "false" } };
/** An owned resource, retagged without changing the ownership tag itself. */
const OWNED_RETAG = {
  Null: { [`aws:RequestTag/${CONTROLLER_TAG}`]: "true", [`aws:ResourceTag/${CONTROLLER_TAG}`]: "false" },
};

/** Read-only calls the controller makes to discover subnets, security groups and load balancers. */
const DISCOVERY = [
  ...[
    "DescribeAccountAttributes",
    "DescribeAddresses",
    "DescribeAvailabilityZones",
    "DescribeCoipPools",
    "DescribeInstances",
    "DescribeInternetGateways",
    "DescribeIpamPools",
    "DescribeNetworkInterfaces",
    "DescribeRouteTables",
    "DescribeSecurityGroups",
    "DescribeSubnets",
    "DescribeTags",
    "DescribeVpcPeeringConnections",
    "DescribeVpcs",
    "GetCoipPoolUsage",
    "GetSecurityGroupsForVpc",
  ].map((a) => `ec2:${a}`),
  ...[
    "DescribeCapacityReservation",
    "DescribeListenerAttributes",
    "DescribeListenerCertificates",
    "DescribeListeners",
    "DescribeLoadBalancerAttributes",
    "DescribeLoadBalancers",
    "DescribeRules",
    "DescribeSSLPolicies",
    "DescribeTags",
    "DescribeTargetGroupAttributes",
    "DescribeTargetGroups",
    "DescribeTargetHealth",
    "DescribeTrustStores",
  ].map((a) => `elasticloadbalancing:${a}`),
];

/** Certificates, WAF, Shield and Cognito, which an Ingress or Service may refer to. */
const INTEGRATIONS = [
  "acm:DescribeCertificate",
  "acm:ListCertificates",
  "cognito-idp:DescribeUserPoolClient",
  "iam:GetServerCertificate",
  "iam:ListServerCertificates",
  "shield:CreateProtection",
  "shield:DeleteProtection",
  "shield:DescribeProtection",
  "shield:GetSubscriptionState",
  "waf-regional:AssociateWebACL",
  "waf-regional:DisassociateWebACL",
  "waf-regional:GetWebACL",
  "waf-regional:GetWebACLForResource",
  "wafv2:AssociateWebACL",
  "wafv2:DisassociateWebACL",
  "wafv2:GetWebACL",
  "wafv2:GetWebACLForResource",
];

/** Changes to load balancers and target groups the controller owns. */
const OWNED_LB_CHANGES = [
  "DeleteLoadBalancer",
  "DeleteTargetGroup",
  "ModifyCapacityReservation",
  "ModifyIpPools",
  "ModifyListenerAttributes",
  "ModifyLoadBalancerAttributes",
  "ModifyTargetGroup",
  "ModifyTargetGroupAttributes",
  "SetIpAddressType",
  "SetSecurityGroups",
  "SetSubnets",
].map((a) => `elasticloadbalancing:${a}`);

/** Listener and rule changes (listeners carry no ownership tag of their own). */
const LISTENER_CHANGES = [
  "AddListenerCertificates",
  "ModifyListener",
  "ModifyRule",
  "RemoveListenerCertificates",
  "SetRulePriorities",
  "SetWebAcl",
].map((a) => `elasticloadbalancing:${a}`);

/** The controller's IAM policy document, as JSON. */
export function loadBalancerControllerPolicy(partition = "aws"): string {
  const elb = (path: string) => `arn:${partition}:elasticloadbalancing:*:*:${path}`;
  const balancersAndGroups = [
    elb("targetgroup/*/*"),
    elb("loadbalancer/net/*/*"),
    elb("loadbalancer/app/*/*"),
  ];
  const securityGroups = `arn:${partition}:ec2:*:*:security-group/*`;
  const statements: Statement[] = [
    allow("iam:CreateServiceLinkedRole", "*", {
      StringEquals: { "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com" },
    }),
    allow(DISCOVERY),
    allow(INTEGRATIONS),
    // Security groups: create and tag its own, open node groups' ingress to them, delete its own.
    allow("ec2:CreateSecurityGroup"),
    allow(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]),
    allow("ec2:CreateTags", securityGroups, {
      StringEquals: { "ec2:CreateAction": "CreateSecurityGroup" },
      ...REQUEST_TAGGED,
    }),
    allow(["ec2:CreateTags", "ec2:DeleteTags"], securityGroups, OWNED_RETAG),
    allow(
      ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"],
      "*",
      OWNED,
    ),
    // Load balancers and target groups: created tagged, then changed only while owned.
    allow(
      ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
      "*",
      REQUEST_TAGGED,
    ),
    allow("elasticloadbalancing:AddTags", balancersAndGroups, {
      StringEquals: { "elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"] },
      ...REQUEST_TAGGED,
    }),
    allow(
      ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
      balancersAndGroups,
      OWNED_RETAG,
    ),
    allow(OWNED_LB_CHANGES, "*", OWNED),
    allow(
      ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
      elb("targetgroup/*/*"),
    ),
    // Listeners and rules.
    allow([
      "elasticloadbalancing:CreateListener",
      "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:CreateRule",
      "elasticloadbalancing:DeleteRule",
    ]),
    allow(
      ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
      ["listener/net/*/*/*", "listener/app/*/*/*", "listener-rule/net/*/*/*", "listener-rule/app/*/*/*"].map(
        elb,
      ),
    ),
    allow(LISTENER_CHANGES),
  ];
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}
