/**
 * Builds the three service images from this repo's Dockerfile into the local Docker engine,
 * without pushing. Containers take `repoDigest` (the local image ID), so a rebuild rolls them.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ImageBuild, ServiceImage } from "../topology";

/** Arguments of `ServiceImages`. */
export interface ServiceImagesArgs {
  readonly builds: readonly ImageBuild[];
  /** Repository root: the build context of `services/Dockerfile`. */
  readonly context: string;
  /** Tag for the local images, e.g. the stack name. */
  readonly tag: string;
}

/** The three locally built service images. */
export class ServiceImages extends pulumi.ComponentResource {
  /** Image ID per service, to feed containers. */
  readonly refs: Record<ServiceImage, pulumi.Output<string>>;

  constructor(name: string, args: ServiceImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mcp-platform:docker:ServiceImages", name, {}, opts);
    const refs = {} as Record<ServiceImage, pulumi.Output<string>>;
    for (const b of args.builds) {
      const image = new docker.Image(
        `${name}-${b.service}`,
        {
          imageName: `mcp-platform/${b.service}:${args.tag}`,
          build: { context: args.context, dockerfile: b.dockerfile, args: { ...b.args } },
          skipPush: true,
        },
        { parent: this },
      );
      refs[b.service] = image.repoDigest;
    }
    this.refs = refs;
    this.registerOutputs({ refs });
  }
}
