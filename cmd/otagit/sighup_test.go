package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"

	repotemplate "github.com/otagit/otagit/firmware-repo-template"
	"github.com/otagit/otagit/internal/testrepo"
	"github.com/otagit/otagit/internal/testwait"
)

// TestSIGHUPReloadsAndDoesNotExit runs `otagit serve` as a process:
// SIGHUP reloads the read token and the server keeps serving; SIGTERM
// then ends it with status 0.
func TestSIGHUPReloadsAndDoesNotExit(t *testing.T) {
	repo := testrepo.New(t)
	repo.WriteFS(repotemplate.FS())
	repo.CommitPush("starter")
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "data"), 0o700)
	tokenFile := filepath.Join(dir, "read-token")
	os.WriteFile(tokenFile, []byte("one\n"), 0o600)

	cmd := exec.Command(os.Args[0], "serve", "--repo", repo.Bare, "--data", filepath.Join(dir, "data"),
		"--listen", "127.0.0.1:0", "--read-token-file", tokenFile, "--poll", "0")
	cmd.Env = append(os.Environ(), "OTAGIT_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	listen := regexp.MustCompile(`msg="otagit serving" listen=(\S+)`)
	var addr, out string
	for addr == "" {
		line, ok := <-lines
		if !ok {
			t.Fatalf("serve ended before it served:\n%s", out)
		}
		out += line + "\n"
		if m := listen.FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
	}
	go func() {
		for range lines {
		}
	}()
	devices := func(token string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/devices", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("the server is gone: %v", err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if devices("one") != 200 || devices("two") != 401 {
		t.Fatal("the first token")
	}
	os.WriteFile(tokenFile, []byte("two\n"), 0o600)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "SIGHUP to reload the read token", func() bool { return devices("two") == 200 })
	if devices("one") != 401 {
		t.Fatal("the old token still works")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := testwait.Recv(t, "serve to exit", exited); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
}
