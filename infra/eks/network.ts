/**
 * The prod stack's VPC: a public and a private subnet in each availability zone, tagged so the AWS
 * Load Balancer Controller finds them (public subnets for internet-facing load balancers, private
 * ones for internal), with a NAT gateway per zone so nodes in private subnets reach ECR and AWS
 * APIs even when one zone is down.
 */
import * as awsx from "@pulumi/awsx";
import * as pulumi from "@pulumi/pulumi";

/** The subnet tags the load balancer controller discovers subnets by. */
export const LOAD_BALANCER_SUBNET_TAGS = {
  public: { "kubernetes.io/role/elb": "1" },
  private: { "kubernetes.io/role/internal-elb": "1" },
} as const;

/**
 * The VPC's subnet layout: one public and one private subnet per zone. awsx sizes them from
 * `eks.vpcCidr`, so any CIDR the config allows works.
 */
export function subnetSpecs(): awsx.types.input.ec2.SubnetSpecArgs[] {
  return [
    { type: "Public", tags: { ...LOAD_BALANCER_SUBNET_TAGS.public } },
    { type: "Private", tags: { ...LOAD_BALANCER_SUBNET_TAGS.private } },
  ];
}

/** The private subnet of zone `zone` (subnets come one per zone, in zone order). */
export function subnetOfZone(privateSubnetIds: pulumi.Input<string[]>, zone: number): pulumi.Output<string> {
  return pulumi.output(privateSubnetIds).apply((ids) => {
    const id = ids[zone];
    if (id === undefined) throw new Error(`the VPC has no private subnet #${zone}`);
    return id;
  });
}

/** Arguments of `EksNetwork`. */
export interface EksNetworkArgs {
  readonly cidrBlock: string;
  readonly availabilityZones: number;
}

/** The VPC, its subnets, gateways and routes. */
export class EksNetwork extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly publicSubnetIds: pulumi.Output<string[]>;
  readonly privateSubnetIds: pulumi.Output<string[]>;

  constructor(name: string, args: EksNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:EksNetwork", name, {}, opts);
    const vpc = new awsx.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: args.cidrBlock,
        numberOfAvailabilityZones: args.availabilityZones,
        subnetSpecs: subnetSpecs(),
        natGateways: { strategy: "OnePerAz" },
        enableDnsHostnames: true,
        enableDnsSupport: true,
      },
      { parent: this },
    );
    this.vpcId = vpc.vpcId;
    this.publicSubnetIds = vpc.publicSubnetIds;
    this.privateSubnetIds = vpc.privateSubnetIds;
    this.registerOutputs({
      vpcId: this.vpcId,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds,
    });
  }
}
