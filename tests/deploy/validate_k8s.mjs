// Validates rendered Kubernetes objects against the API's schemas, offline, two ways:
//  1. kubernetes-models' JSON-schema validator (Kubernetes 1.27 OpenAPI; prometheus-operator 0.65
//     CRDs): types, required fields, formats and patterns. It accepts unknown fields, so
//  2. each object is written as a typed TypeScript constant and checked by tsc, whose
//     excess-property check refuses any field the type does not declare (a misspelt key) and
//     whose types refuse a string where a number belongs.
// An object whose apiVersion/kind has no model is refused too.
// usage: node validate_k8s.mjs NPM_DIR OBJECTS.json...   (each file a JSON array of objects)
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [npmDir, ...files] = process.argv.slice(2);
if (!npmDir || files.length === 0) {
  console.error("usage: node validate_k8s.mjs NPM_DIR OBJECTS.json...");
  process.exit(2);
}
const modules = join(npmDir, "node_modules");

function modelPath(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  const pkg = apiVersion.startsWith("monitoring.coreos.com/")
    ? "@kubernetes-models/prometheus-operator"
    : "kubernetes-models";
  const path = `${pkg}/${apiVersion}/${kind}`;
  return existsSync(join(modules, `${path}.mjs`)) ? path : null;
}

// One property per line, remembering each line's field path, so tsc's line numbers name fields.
function serialize(value, path, indent, prefix, suffix, out) {
  const line = (text, p) => out.push({ text: indent + text, path: p });
  if (value === null || typeof value !== "object") {
    line(prefix + JSON.stringify(value) + suffix, path);
    return;
  }
  const entries = Array.isArray(value)
    ? value.map((v, i) => [`${path}[${i}]`, "", v])
    : Object.entries(value).map(([k, v]) => [path ? `${path}.${k}` : k, `${JSON.stringify(k)}: `, v]);
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  if (entries.length === 0) {
    line(prefix + open + close + suffix, path);
    return;
  }
  line(prefix + open, path);
  entries.forEach(([p, key, v], i) =>
    serialize(v, p, indent + "  ", key, i < entries.length - 1 ? "," : "", out));
  line(close + suffix, path);
}

const objects = [];
for (const file of files) {
  for (const obj of JSON.parse(readFileSync(file, "utf8"))) {
    const ns = obj?.metadata?.namespace ? `${obj.metadata.namespace}/` : "";
    objects.push({ obj, label: `${obj?.kind}/${ns}${obj?.metadata?.name}`, model: modelPath(obj?.apiVersion, obj?.kind) });
  }
}

const problems = [];
if (objects.length === 0) problems.push("no objects to validate");
// 1. JSON schema (types, required, formats, patterns).
for (const o of objects) {
  if (!o.model) {
    problems.push(`${o.label}: no schema for apiVersion ${o.obj?.apiVersion}, kind ${o.obj?.kind}`);
    continue;
  }
  const Model = (await import(pathToFileURL(join(modules, `${o.model}.mjs`)).href))[o.obj.kind];
  try {
    new Model(o.obj).validate();
  } catch (e) {
    for (const err of e.errors ?? [{ instancePath: "", message: e.message }]) {
      const at = (err.instancePath || "").replace(/^\//, "").replaceAll("/", ".").replace(/\.(\d+)(?=\.|$)/g, "[$1]");
      problems.push(`${o.label}: ${at || "(object)"}: ${err.message}${err.params ? " " + JSON.stringify(err.params) : ""}`);
    }
  }
}

// 2. Unknown fields and types through tsc.
const lines = [];
const typed = objects.filter((o) => o.model);
typed.forEach((o, i) => lines.push({ text: `import type { I${o.obj.kind} as T${i} } from "${o.model}";` }));
typed.forEach((o, i) => {
  const start = lines.length;
  serialize(o.obj, "", "", `export const o${i}: T${i} = `, ";", lines);
  for (let l = start; l < lines.length; l++) lines[l].object = o;
});
const dir = mkdtempSync(join(tmpdir(), "validate-k8s-"));
try {
  symlinkSync(modules, join(dir, "node_modules"));
  writeFileSync(join(dir, "check.ts"), lines.map((l) => l.text).join("\n") + "\n");
  const tsc = spawnSync(process.execPath, [join(modules, "typescript/bin/tsc"), "--noEmit", "--strict",
    "--skipLibCheck", "--pretty", "false", "--target", "es2022", "--module", "nodenext",
    "--moduleResolution", "nodenext", "check.ts"], { cwd: dir, encoding: "utf8" });
  const out = tsc.stdout + tsc.stderr;
  for (const m of out.matchAll(/^check\.ts\((\d+),\d+\): error (TS\d+): (.*)$/gm)) {
    const l = lines[Number(m[1]) - 1];
    const message = m[3].replace(/ in type '.{80,}$/, " in its type.");
    problems.push(`${l?.object?.label ?? "?"}: ${l?.path || "(object)"}: ${m[2]} ${message}`);
  }
  if (tsc.status !== 0 && !/error TS/.test(out)) problems.push(`tsc failed: ${out.trim()}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (problems.length) {
  for (const p of problems) console.log(`INVALID ${p}`);
  process.exit(1);
}
console.log(`valid: ${objects.map((o) => o.label).join(", ")}`);
