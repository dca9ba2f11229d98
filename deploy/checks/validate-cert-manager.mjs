// Validates cert-manager objects (a JSON array on stdin) against cert-manager's CRD schemas,
// as packaged by @kubernetes-models/cert-manager (installed in the node_modules directory
// given as the first argument). Exits 1 naming every invalid object.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
const certManager = await import(
  pathToFileURL(join(modules, "@kubernetes-models/cert-manager/cert-manager.io/v1/index.js")).href
);

let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = 0;
for (const obj of JSON.parse(input)) {
  const Model = certManager[obj.kind];
  const name = `${obj.kind}/${obj.metadata?.name}`;
  if (obj.apiVersion !== "cert-manager.io/v1" || !Model) {
    console.log(`${name}: no cert-manager schema for ${obj.apiVersion} ${obj.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (error) {
    console.log(`${name}: ${error.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
