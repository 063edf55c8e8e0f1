/**
 * The prod stack's images: one ECR repository per image this repo builds, with the image built
 * from `services/Dockerfile` and pushed by the program. Workloads take the pushed `repoDigest`
 * (`<repo>@sha256:...`), so every rebuild rolls them and no tag is ever trusted.
 */
import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ImageBuild, ServiceImage } from "../topology";

/** How many images each repository keeps; older ones expire. */
export const KEEP_IMAGES = 20;

/** The repository of one image: `<prefix>/<service>`, e.g. `mcp-platform/prod/router`. */
export function repositoryName(prefix: string, service: ServiceImage): string {
  return `${prefix}/${service}`;
}

/** An ECR lifecycle policy that keeps the newest `keep` images. */
export function lifecyclePolicy(keep: number): string {
  return JSON.stringify({
    rules: [
      {
        rulePriority: 1,
        description: `keep the newest ${keep} images`,
        selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keep },
        action: { type: "expire" },
      },
    ],
  });
}

/** Arguments of `ImageRegistry`. */
export interface ImageRegistryArgs {
  readonly builds: readonly ImageBuild[];
  /** Repository root: the build context of `services/Dockerfile`. */
  readonly context: string;
  /** Repository name prefix, e.g. `mcp-platform/prod`. */
  readonly repositoryPrefix: string;
  /** Tag pushed with each image, e.g. the stack name; workloads use the digest, not the tag. */
  readonly tag: string;
  /** `linux/amd64` or `linux/arm64`, matching the node groups. */
  readonly platform: string;
}

/** ECR repositories and the pushed images of the three services. */
export class ImageRegistry extends pulumi.ComponentResource {
  /** Pushed digest (`<repo>@sha256:...`) per service, to feed workloads. */
  readonly refs: Record<ServiceImage, pulumi.Output<string>>;
  readonly repositories: Record<ServiceImage, aws.ecr.Repository>;

  constructor(name: string, args: ImageRegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:eks:ImageRegistry", name, {}, opts);
    const refs = {} as Record<ServiceImage, pulumi.Output<string>>;
    const repositories = {} as Record<ServiceImage, aws.ecr.Repository>;
    for (const b of args.builds) {
      const repository = new aws.ecr.Repository(
        `${name}-${b.service}`,
        {
          name: repositoryName(args.repositoryPrefix, b.service),
          // The stack's tag is re-pushed on every build; workloads pin the digest instead.
          imageTagMutability: "MUTABLE",
          imageScanningConfiguration: { scanOnPush: true },
          encryptionConfigurations: [{ encryptionType: "AES256" }],
          forceDelete: true,
        },
        { parent: this },
      );
      new aws.ecr.LifecyclePolicy(
        `${name}-${b.service}-lifecycle`,
        { repository: repository.name, policy: lifecyclePolicy(KEEP_IMAGES) },
        { parent: this },
      );
      const auth = aws.ecr.getAuthorizationTokenOutput(
        { registryId: repository.registryId },
        { parent: this },
      );
      const image = new docker.Image(
        `${name}-${b.service}-image`,
        {
          imageName: pulumi.interpolate`${repository.repositoryUrl}:${args.tag}`,
          build: {
            context: args.context,
            dockerfile: b.dockerfile,
            args: { ...b.args },
            platform: args.platform,
          },
          registry: {
            server: repository.repositoryUrl,
            username: auth.userName,
            password: pulumi.secret(auth.password),
          },
        },
        { parent: this },
      );
      refs[b.service] = image.repoDigest;
      repositories[b.service] = repository;
    }
    this.refs = refs;
    this.repositories = repositories;
    this.registerOutputs({ refs });
  }
}
