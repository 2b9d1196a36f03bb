package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/otagit/otagit/devauth"
)

// stdin is what hash-password reads; tests replace it.
var stdin io.Reader = os.Stdin

// runHashPassword prints the bcrypt hash of a password for the device
// credential file (serve --device-auth). From a terminal it asks twice,
// without echo; otherwise it reads the first line of stdin.
func runHashPassword(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hash-password", "", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	var pw []byte
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(stderr, "Password: ")
		p1, err := readNoEcho(f)
		fmt.Fprintln(stderr)
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		p2, err := readNoEcho(f)
		fmt.Fprintln(stderr)
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		if string(p1) != string(p2) {
			return errors.New("the passwords differ")
		}
		pw = p1
	} else {
		line, err := bufio.NewReaderSize(io.LimitReader(stdin, 4096), 4096).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password: %w", err)
		}
		pw = []byte(strings.TrimRight(line, "\r\n"))
	}
	if len(pw) > 72 {
		return errors.New("password over 72 bytes: bcrypt reads only 72")
	}
	h, err := devauth.Hash(pw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, h)
	return err
}
