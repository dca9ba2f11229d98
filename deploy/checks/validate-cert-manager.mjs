// Validates cert-manager objects (a JSON array on stdin) against their CRD schemas, as
// packaged by @kubernetes-models/cert-manager (installed in the node_modules directory given
// as the first argument): cert-manager.io itself, and trust-manager's Bundle and
// approver-policy's CertificateRequestPolicy, which the platform onboarding example uses.
// Exits 1 naming every invalid object.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
const GROUPS = ["cert-manager.io/v1", "trust.cert-manager.io/v1alpha1", "policy.cert-manager.io/v1alpha1"];
const models = {};
for (const apiVersion of GROUPS) {
  const index = join(modules, "@kubernetes-models/cert-manager", apiVersion, "index.js");
  if (!existsSync(index)) {
    console.log(`no models for ${apiVersion} in ${index}`);
    process.exit(1);
  }
  models[apiVersion] = await import(pathToFileURL(index).href);
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
let failed = 0;
for (const obj of JSON.parse(input)) {
  const Model = models[obj.apiVersion]?.[obj.kind];
  const name = `${obj.kind}/${obj.metadata?.name}`;
  if (!Model) {
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
