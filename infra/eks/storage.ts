/**
 * Storage for the prod stack, through the EKS-managed CSI drivers (each with its IRSA role):
 *
 * - block storage: the EBS CSI driver and a default `gp3` class, for Consul's server volumes
 *   (one ReadWriteOnce volume per server, bound in the server pod's zone);
 * - shared storage: an encrypted EFS file system with a mount target per private subnet, the EFS
 *   CSI driver and an `efs` class, for MCP services with a `volume`: every replica, in any zone,
 *   mounts the same data, as the dev stack's replicas share one Docker volume. EFS automatic
 *   backups are on unless `eks.backups` is false.
 */
import * as aws from "@pulumi/aws";
import * as eks from "@pulumi/eks";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { IrsaRole } from "./irsa";
import { subnetOfZone } from "./network";
import { PART_OF } from "./pod-spec";

/** Storage class names, fixed so Helm values and claims can name them. */
export const STORAGE_CLASS = { block: "gp3", shared: "efs" } as const;

/** The NFS port EFS mount targets listen on. */
export const NFS_PORT = 2049;

/**
 * The CSI drivers: EKS add-on name and the service accounts their IRSA role trusts. The EBS driver
 * calls AWS from its controller only. The EFS add-on gives the role to its node daemonset too
 * (efs-utils asks AWS for a mount target's address when the file system's DNS name does not
 * resolve), so the node account must be trusted as well; AWS's guide widens the trust to
 * `efs-csi-*`, here both names are exact.
 */
export const CSI_DRIVERS = {
  ebs: {
    addon: "aws-ebs-csi-driver",
    serviceAccounts: [{ namespace: "kube-system", name: "ebs-csi-controller-sa" }],
    policyArn: aws.iam.ManagedPolicy.AmazonEBSCSIDriverPolicy,
  },
  efs: {
    addon: "aws-efs-csi-driver",
    serviceAccounts: [
      { namespace: "kube-system", name: "efs-csi-controller-sa" },
      { namespace: "kube-system", name: "efs-csi-node-sa" },
    ],
    policyArn: aws.iam.ManagedPolicy.AmazonEFSCSIDriverPolicy,
  },
} as const;

type StorageClassArgs = Omit<k8s.storage.v1.StorageClassArgs, "apiVersion" | "kind">;

/** The default class: encrypted gp3 EBS volumes, created in the zone of the pod that claims one. */
export function blockStorageClass(): StorageClassArgs {
  return {
    metadata: {
      name: STORAGE_CLASS.block,
      labels: { "app.kubernetes.io/part-of": PART_OF },
      annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
    },
    provisioner: "ebs.csi.aws.com",
    parameters: { type: "gp3", encrypted: "true" },
    reclaimPolicy: "Delete",
    volumeBindingMode: "WaitForFirstConsumer",
    allowVolumeExpansion: true,
  };
}

/**
 * The shared class: one EFS access point per claim, owned by the user the services run as, so a
 * non-root pod can write its data folder.
 */
export function sharedStorageClass(fileSystemId: pulumi.Input<string>, uid: number): StorageClassArgs {
  return {
    metadata: { name: STORAGE_CLASS.shared, labels: { "app.kubernetes.io/part-of": PART_OF } },
    provisioner: "efs.csi.aws.com",
    parameters: {
      provisioningMode: "efs-ap",
      fileSystemId,
      directoryPerms: "700",
      uid: String(uid),
      gid: String(uid),
      basePath: `/${PART_OF}`,
    },
    reclaimPolicy: "Delete",
    volumeBindingMode: "Immediate",
  };
}

/** Arguments of `ClusterStorage`. */
export interface ClusterStorageArgs {
  readonly cluster: eks.Cluster;
  readonly oidcProviderArn: pulumi.Input<string>;
  readonly oidcIssuer: pulumi.Input<string>;
  readonly vpcId: pulumi.Input<string>;
  readonly vpcCidr: string;
  readonly privateSubnetIds: pulumi.Input<string[]>;
  /** How many private subnets there are (one per availability zone). */
  readonly subnetCount: number;
  /** The user that owns shared volumes. */
  readonly sharedUid: number;
  /** Turn on EFS automatic backups (AWS Backup, daily, kept 35 days in its own vault). */
  readonly backups: boolean;
}

/** The CSI drivers, the EFS file system and both storage classes. */
export class ClusterStorage extends pulumi.ComponentResource {
  /** Everything a claim needs before it can bind; claims' owners depend on this. */
  readonly ready: pulumi.Resource[];

  constructor(name: string, args: ClusterStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:ClusterStorage", name, {}, opts);
    const driver = (key: keyof typeof CSI_DRIVERS, dependsOn: pulumi.Resource[]) => {
      const d = CSI_DRIVERS[key];
      const role = new IrsaRole(
        `${name}-${key}-csi`,
        {
          oidcProviderArn: args.oidcProviderArn,
          oidcIssuer: args.oidcIssuer,
          serviceAccounts: d.serviceAccounts,
          managedPolicyArns: [d.policyArn],
        },
        { parent: this },
      );
      return new eks.Addon(
        `${name}-${key}-csi-driver`,
        {
          cluster: args.cluster,
          addonName: d.addon,
          serviceAccountRoleArn: role.arn,
          resolveConflictsOnCreate: "OVERWRITE",
          resolveConflictsOnUpdate: "PRESERVE",
        },
        { parent: this, dependsOn: [role, ...dependsOn] },
      );
    };

    const ebs = driver("ebs", []);
    const block = new k8s.storage.v1.StorageClass(`${name}-${STORAGE_CLASS.block}`, blockStorageClass(), {
      parent: this,
      deleteBeforeReplace: true,
    });

    const nfs = new aws.ec2.SecurityGroup(
      `${name}-efs`,
      {
        description: "NFS from the cluster's VPC to the shared EFS file system",
        vpcId: args.vpcId,
        ingress: [
          {
            description: "NFS from pods and nodes",
            protocol: "tcp",
            fromPort: NFS_PORT,
            toPort: NFS_PORT,
            cidrBlocks: [args.vpcCidr],
          },
        ],
      },
      { parent: this },
    );
    const fileSystem = new aws.efs.FileSystem(
      `${name}-efs`,
      { encrypted: true, performanceMode: "generalPurpose", throughputMode: "elastic" },
      { parent: this },
    );
    // Automatic backups live in AWS Backup's own vault: they outlive the file system, so data
    // from a service volume can be restored after an accident, or after `pulumi destroy`.
    new aws.efs.BackupPolicy(
      `${name}-efs-backups`,
      { fileSystemId: fileSystem.id, backupPolicy: { status: args.backups ? "ENABLED" : "DISABLED" } },
      { parent: this },
    );
    const mountTargets = Array.from(
      { length: args.subnetCount },
      (_, i) =>
        new aws.efs.MountTarget(
          `${name}-efs-${i}`,
          {
            fileSystemId: fileSystem.id,
            subnetId: subnetOfZone(args.privateSubnetIds, i),
            securityGroups: [nfs.id],
          },
          { parent: this },
        ),
    );
    const efs = driver("efs", mountTargets);
    const shared = new k8s.storage.v1.StorageClass(
      `${name}-${STORAGE_CLASS.shared}`,
      sharedStorageClass(fileSystem.id, args.sharedUid),
      { parent: this, deleteBeforeReplace: true },
    );

    this.ready = [ebs, block, efs, shared];
    this.registerOutputs({ fileSystemId: fileSystem.id });
  }
}
