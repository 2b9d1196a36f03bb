// Package pgtest starts throwaway PostgreSQL servers for tests, from the
// binaries of Debian's postgresql package.
package pgtest
