// Package config is otagit's config repository schema: it reads a tree of
// platforms/*.toml, devices/**/*.toml and the binaries they name (from a
// Git commit or a work tree, as an fs.FS), checks every rule of the schema
// and reports each problem as file:line: key: message, and builds the
// rollout.Fleet the server answers devices from.
//
// One loader serves every caller: the server (a commit's tree), `otagit
// validate` (a work tree), `otagit plan` (two commits) and `otagit add`,
// so they can never disagree about what is valid. The rules by which the
// loader confirms that a binary is a release's platform and version also
// detect them (DetectPlatform, DetectVersion), so what `otagit add` detects
// is what the loader confirms.
package config
