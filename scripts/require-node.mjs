// Imported first by the scripts that start services (`npm run local`, `npm run bench`): on a Node
// older than 22 they would fail deep in a dependency (undici needs newer web APIs), so stop at
// once and say how to get the Node 24 the project targets.
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(
    `node ${process.version} is older than 22, which this project needs (it targets Node 24).\n` +
      "Run `source scripts/node24.sh` first: it puts Node 24 from the npm registry on PATH (in .tools/).\n",
  );
  process.exit(1);
}
