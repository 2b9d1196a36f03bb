package gitstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/file"
)

// uploadPackTransport fetches from repositories on this machine with Git's
// own upload-pack, which it runs so that every session ends when its
// context does: the process (and any it started) is killed, and its pipes
// are closed, whatever it is blocked on. go-git's file transport waits for
// the process with no bound, so an upload-pack blocked writing to a pipe
// nobody reads (a fetch that failed writing a full disk) wedged the sync
// for good. Pushes, which the server never makes, go to go-git's client.
type uploadPackTransport struct {
	// bin and args start upload-pack: "git-upload-pack" on PATH, else
	// "git upload-pack".
	bin  string
	args []string
}

// closeGrace is how long Close lets upload-pack exit by itself once its
// input is closed, before it is killed: after a complete pack it exits at
// once; after a failed one it may be blocked writing and never would.
const closeGrace = time.Second

// stderrLimit bounds what is kept of upload-pack's standard error.
const stderrLimit = 4 << 10

func newUploadPackTransport() (*uploadPackTransport, bool) {
	if p, err := exec.LookPath("git-upload-pack"); err == nil {
		return &uploadPackTransport{bin: p}, true
	}
	if p, err := exec.LookPath("git"); err == nil {
		return &uploadPackTransport{bin: p, args: []string{"upload-pack"}}, true
	}
	return nil, false
}

func (t *uploadPackTransport) NewUploadPackSession(ep *transport.Endpoint, _ transport.AuthMethod) (transport.UploadPackSession, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, t.bin, append(append([]string(nil), t.args...), ep.Path)...)
	ownProcessGroup(cmd)
	// Wait must return even when a process upload-pack started keeps its
	// stderr open after the kill.
	cmd.WaitDelay = closeGrace
	s := &uploadPackSession{cmd: cmd, cancel: cancel, stderr: &limitedBuffer{limit: stderrLimit}}
	cmd.Stderr = s.stderr
	// Pipes made here rather than by cmd: Wait, which runs as soon as the
	// process is started, would close cmd's own while the pack is read.
	inR, inW, err := os.Pipe()
	if err != nil {
		cancel()
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		cancel()
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		cancel()
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start upload-pack: %w", err)
	}
	s.stdin, s.stdout = inW, outR
	s.waited = make(chan struct{})
	go func() {
		// Owned by the session: Close waits for it, and it ends once the
		// process is gone (killed at the latest by Close).
		s.waitErr = cmd.Wait()
		close(s.waited)
	}()
	return s, nil
}

func (t *uploadPackTransport) NewReceivePackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.ReceivePackSession, error) {
	return file.DefaultClient.NewReceivePackSession(ep, auth)
}

// uploadPackSession is one upload-pack process.
type uploadPackSession struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc // kills the process
	stdin  *os.File
	stdout *os.File
	stderr *limitedBuffer
	waited chan struct{} // closed when the process has been waited for
	// waitErr is the process's exit, set before waited is closed.
	waitErr error

	advRefs   *packp.AdvRefs
	packRun   bool
	closeOnce sync.Once
	closeErr  error
}

func (s *uploadPackSession) AdvertisedReferences() (*packp.AdvRefs, error) {
	return s.AdvertisedReferencesContext(context.Background())
}

func (s *uploadPackSession) AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error) {
	if s.advRefs != nil {
		return s.advRefs, nil
	}
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	ar := packp.NewAdvRefs()
	if err := ar.Decode(s.stdout); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, s.advRefsError(err)
	}
	if ar.IsEmpty() {
		return nil, transport.ErrEmptyRemoteRepository
	}
	transport.FilterUnsupportedCapabilities(ar.Capabilities)
	s.advRefs = ar
	return ar, nil
}

// advRefsError says why the references could not be read: what
// upload-pack said on stderr, most usefully that there is no repository.
func (s *uploadPackSession) advRefsError(err error) error {
	var errLine *pktline.ErrorLine
	switch {
	case errors.Is(err, packp.ErrEmptyAdvRefs):
		return transport.ErrEmptyRemoteRepository
	case errors.As(err, &errLine):
		return fmt.Errorf("upload-pack: %s", errLine.Text)
	case errors.Is(err, packp.ErrEmptyInput), errors.Is(err, io.ErrUnexpectedEOF):
		s.Close()
		msg := strings.TrimSpace(s.stderr.String())
		if strings.Contains(msg, "not a git repository") || strings.Contains(msg, "does not appear to be a git repository") {
			return transport.ErrRepositoryNotFound
		}
		if msg != "" {
			return fmt.Errorf("upload-pack: %s", msg)
		}
	}
	return fmt.Errorf("upload-pack: %w", err)
}

func (s *uploadPackSession) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	if req.IsEmpty() {
		return nil, transport.ErrEmptyUploadPackRequest
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.AdvertisedReferencesContext(ctx); err != nil {
		return nil, err
	}
	s.packRun = true
	// Killing the process ends every read and write of this fetch,
	// including the pack go-git reads after UploadPack returns.
	stop := context.AfterFunc(ctx, s.kill)
	if err := sendUploadRequest(s.stdin, req); err != nil {
		stop()
		s.Close()
		return nil, ctxErr(ctx, err)
	}
	res := packp.NewUploadPackResponse(req)
	if err := res.Decode(&stoppingReadCloser{ctx: ctx, r: s.stdout, close: func() error { stop(); return s.Close() }}); err != nil {
		stop()
		s.Close()
		return nil, ctxErr(ctx, fmt.Errorf("upload-pack response: %w", err))
	}
	return res, nil
}

// ctxErr prefers the context's error to the broken pipe its end caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

func sendUploadRequest(w io.WriteCloser, req *packp.UploadPackRequest) error {
	if err := req.UploadRequest.Encode(w); err != nil {
		return fmt.Errorf("sending upload request: %w", err)
	}
	if err := req.UploadHaves.Encode(w, true); err != nil {
		return fmt.Errorf("sending haves: %w", err)
	}
	if err := pktline.NewEncoder(w).Encodef("done\n"); err != nil {
		return fmt.Errorf("sending done: %w", err)
	}
	return w.Close()
}

// kill ends the process and unblocks any read of its output.
func (s *uploadPackSession) kill() {
	s.cancel()
	s.stdout.Close()
}

// Close ends the session: upload-pack is given closeGrace to exit by
// itself (it does at once after a complete exchange) and is then killed.
// It returns within about twice closeGrace whatever the process does.
func (s *uploadPackSession) Close() error {
	s.closeOnce.Do(func() {
		if !s.packRun {
			// A flush tells upload-pack that nothing is wanted.
			_, _ = s.stdin.Write(pktline.FlushPkt)
		}
		s.stdin.Close()
		t := time.NewTimer(closeGrace)
		defer t.Stop()
		select {
		case <-s.waited:
		case <-t.C:
			s.kill()
			<-s.waited
		}
		s.cancel()
		s.stdout.Close()
		if s.waitErr != nil && !s.packRun {
			if msg := strings.TrimSpace(s.stderr.String()); msg != "" {
				s.closeErr = fmt.Errorf("upload-pack: %w: %s", s.waitErr, msg)
			}
		}
	})
	return s.closeErr
}

// stoppingReadCloser is the pack stream: closing it ends the session. A
// read that fails because ctx ended (the process killed, its pipe closed)
// says so.
//
// That includes io.EOF: the killed process's end of the pipe closes
// before kill closes ours, so a read can see a clean end. go-git takes an
// EOF in the server's response for an empty answer and then reports
// "empty packfile" instead of the timeout. ctx is done before its
// AfterFunc kills, so an EOF the kill caused always sees ctx.Err.
type stoppingReadCloser struct {
	ctx   context.Context
	r     io.Reader
	close func() error
}

func (r *stoppingReadCloser) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && r.ctx.Err() != nil {
		err = ctxErr(r.ctx, err)
	}
	return n, err
}

func (r *stoppingReadCloser) Close() error { return r.close() }

// limitedBuffer keeps the first limit bytes written to it and drops the
// rest; it is safe for concurrent use.
type limitedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
