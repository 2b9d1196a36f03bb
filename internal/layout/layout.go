// Package layout states otagit's package layering: which package may
// import which. Its test reads every package's imports and fails on an
// import that points from a lower layer to a higher one, on a package
// missing from the table, on a package without a doc comment, and on I/O
// in package rollout.
package layout

// Layers lists the project's packages (import paths below the module) by
// layer, lowest first. A package may import packages of lower layers only.
// A new package is added here, at the layer its job belongs to.
var Layers = [][]string{
	// The domain and leaf helpers: no project imports, or only each other
	// below.
	{"rollout", "espimage", "commitsig", "internal/tomlpos", "internal/atomicfile", "internal/fakegithub", "internal/testwait",
		"internal/clock", "internal/lograte", "internal/pgtest", "internal/testsign", "internal/testgitsig", "internal/chromium", "internal/buildinfo"},
	// Firmware signatures, read with the image header's rules; who may
	// use the operator side (its refusals' log through internal/lograte).
	{"imagesig", "access"},
	// Stores of things: binaries on disk, check-ins.
	{"artifact", "checkin", "internal/testrepo", "firmware-repo-template"},
	// The config schema and its loader; the server's device credentials.
	{"config", "devauth"},
	// Adapters around the config: Git sync and snapshots, GitHub, work
	// trees.
	{"gitstore", "githubapi", "worktree"},
	// Edits of a config work tree (otagit add).
	{"repoedit"},
	// Moving a fleet in from other servers (otagit import), through
	// repoedit.
	{"importer"},
	// What a change does to every device, between two snapshots.
	{"plan"},
	// HTTP front ends.
	{"httpapi", "webhook", "dashboard", "metrics"},
	// The update server: stores, front ends and workers wired together.
	{"server"},
	// Programs.
	{"cmd/otagit", "internal/loadtest/bare", "internal/loadtest/genrepo", "internal/layout"},
}

// NoIO lists packages that must not do I/O, and the standard packages
// that would mean they do.
var NoIO = map[string][]string{
	"rollout": {"os", "os/exec", "net", "net/http", "io/fs", "io/ioutil", "database/sql", "path/filepath", "log", "log/slog", "syscall"},
}
