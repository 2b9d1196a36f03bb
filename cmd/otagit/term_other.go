//go:build !linux

package main

import (
	"errors"
	"os"
)

// isTerminal is false here: hash-password reads the password from
// stdin, e.g. `read -s PW && echo "$PW" | otagit hash-password`.
func isTerminal(*os.File) bool { return false }

func readNoEcho(*os.File) ([]byte, error) { return nil, errors.New("no terminal support") }
