package gitstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/otagit/otagit/config"
)

// Remote says where the config repository is and how to reach it. Secrets
// in it are never logged: use String to show a Remote.
type Remote struct {
	// URL is a local path, file://, https:// (or http://), ssh:// or
	// scp-style (git@host:owner/repo.git) address.
	URL string
	// Branch is the branch that is served. Default "main".
	Branch string
	// Token authenticates https remotes (a GitHub token, for example); it
	// is sent as the password of HTTP basic auth.
	Token string
	// SSHKeyFile is a private key for ssh remotes; without it the SSH
	// agent is used.
	SSHKeyFile string
	// SSHKeyPassphrase decrypts SSHKeyFile when it is encrypted.
	SSHKeyPassphrase string
	// KnownHostsFile checks ssh host keys; default ~/.ssh/known_hosts.
	KnownHostsFile string
}

// String returns the URL without any password in it.
func (r Remote) String() string { return RedactURL(r.URL) }

// RedactURL returns u with the secrets of its user info replaced by
// "xxxxx", for logs and status pages: the password, and a user name that
// may be a token (https://<token>@github.com/... works with GitHub).
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	name := p.User.Username()
	if p.Scheme != "ssh" && name != "git" {
		name = "xxxxx"
	}
	if _, has := p.User.Password(); has {
		p.User = url.UserPassword(name, "xxxxx")
	} else {
		p.User = url.User(name)
	}
	return p.String()
}

func (r Remote) branch() string {
	if r.Branch == "" {
		return "main"
	}
	return r.Branch
}

// trackingRef is where the served branch is fetched to.
func (r Remote) trackingRef() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName("origin", r.branch())
}

func (r Remote) refSpec() gitconfig.RefSpec {
	return gitconfig.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(r.branch()), r.trackingRef()))
}

// endpointURL returns the URL go-git is given: local paths made absolute.
func (r Remote) endpointURL() (string, error) {
	ep, err := transport.NewEndpoint(r.URL)
	if err != nil {
		return "", fmt.Errorf("repository address %q: %w", RedactURL(r.URL), err)
	}
	if ep.Protocol == "file" && !strings.HasPrefix(r.URL, "file://") {
		abs, err := filepath.Abs(r.URL)
		if err != nil {
			return "", err
		}
		return abs, nil
	}
	return r.URL, nil
}

// checkLocalRemote fails for a local-path or file:// remote that does not
// exist when dataDir holds no earlier clone to serve: such a server would
// only ever answer 503, so it should not start. With an earlier clone it
// starts, serves that, and retries the remote (it may be on a disk not yet
// mounted). Network remotes are not checked: they are retried.
func checkLocalRemote(r Remote, dataDir string) error {
	ep, err := transport.NewEndpoint(r.URL)
	if err != nil || ep.Protocol != "file" {
		return nil
	}
	path := ep.Path
	if !strings.HasPrefix(r.URL, "file://") {
		path = r.URL
	}
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dataDir, "state.json")); err == nil {
		return nil
	}
	return fmt.Errorf("repository %s does not exist, and %s holds no earlier clone to serve: give the path of a Git repository", path, dataDir)
}

// auth returns the go-git auth method for the remote's protocol.
func (r Remote) auth() (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(r.URL)
	if err != nil {
		return nil, fmt.Errorf("repository address %q: %w", RedactURL(r.URL), err)
	}
	switch ep.Protocol {
	case "http", "https":
		if r.Token == "" {
			return nil, nil
		}
		user := ep.User
		if user == "" {
			user = "x-access-token"
		}
		return &githttp.BasicAuth{Username: user, Password: r.Token}, nil
	case "ssh":
		user := ep.User
		if user == "" {
			user = gitssh.DefaultUsername
		}
		if r.SSHKeyFile == "" {
			am, err := gitssh.NewSSHAgentAuth(user)
			if err != nil {
				return nil, fmt.Errorf("ssh: no key file given and no SSH agent: %w", err)
			}
			return am, r.knownHosts(&am.HostKeyCallbackHelper)
		}
		m, err := gitssh.NewPublicKeysFromFile(user, r.SSHKeyFile, r.SSHKeyPassphrase)
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", r.SSHKeyFile, err)
		}
		return m, r.knownHosts(&m.HostKeyCallbackHelper)
	}
	return nil, nil
}

// knownHosts makes h check host keys against KnownHostsFile, when set;
// otherwise go-git's default (~/.ssh/known_hosts, $SSH_KNOWN_HOSTS) applies.
func (r Remote) knownHosts(h *gitssh.HostKeyCallbackHelper) error {
	if r.KnownHostsFile == "" {
		return nil
	}
	cb, err := gitssh.NewKnownHostsCallback(r.KnownHostsFile)
	if err != nil {
		return fmt.Errorf("ssh known hosts %s: %w", r.KnownHostsFile, err)
	}
	h.HostKeyCallback = cb
	return nil
}

// objectCacheSize bounds go-git's in-memory object cache. Objects bigger
// than largeObject are streamed past it, so it only holds commits, trees,
// config files and small binaries.
//
// largeObject is as big as the biggest config file so that config files
// are always read whole: go-git's streaming reader of big objects returns
// wrong bytes for objects stored as deltas of deltas (as Git packs a big
// fleet's similar whitelists; TestTreeFSReadsBigDeltifiedFiles). Binaries
// above it (none fit an ESP flash) still stream, and TreeFS checks every
// streamed file against its blob hash.
const objectCacheSize = 16 * cache.MiByte

// largeObject is a variable so that a test can make go-git stream
// small objects.
var largeObject int64 = config.MaxTOMLSize

// openRepo opens the bare repository in dir, creating it (and its
// "origin" remote) when missing, and points origin at remote's URL.
func openRepo(dir string, remote Remote) (*git.Repository, error) {
	url, err := remote.endpointURL()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(objectCacheSize),
		filesystem.Options{LargeObjectThreshold: largeObject})
	repo, err := git.Open(st, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.Init(st, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("local clone %s: %w", dir, err)
	}
	want := &gitconfig.RemoteConfig{Name: "origin", URLs: []string{url}, Fetch: []gitconfig.RefSpec{remote.refSpec()}}
	if rem, err := repo.Remote("origin"); err == nil {
		c := rem.Config()
		if len(c.URLs) == 1 && c.URLs[0] == url && len(c.Fetch) == 1 && c.Fetch[0] == want.Fetch[0] {
			return repo, nil
		}
		if err := repo.DeleteRemote("origin"); err != nil {
			return nil, fmt.Errorf("local clone %s: %w", dir, err)
		}
	}
	if _, err := repo.CreateRemote(want); err != nil {
		return nil, fmt.Errorf("local clone %s: %w", dir, err)
	}
	return repo, nil
}

// fetch brings the served branch up to date with the remote and returns
// the commit it points to, once every object of its tree is known to be
// in the clone. A fetch cut off early can move the tracking ref to a
// commit whose objects never arrived; the ref is then put back where it
// was, so that the next fetch asks for them again instead of finding the
// branch up to date, and the error is ErrDamaged.
func fetch(ctx context.Context, repo *git.Repository, remote Remote) (plumbing.Hash, error) {
	auth, err := remote.auth()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	before, _ := repo.Reference(remote.trackingRef(), false)
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RefSpecs:   []gitconfig.RefSpec{remote.refSpec()},
		Auth:       auth,
		Tags:       git.NoTags,
		Force:      true,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: the repository has no commits yet", remote)
	case isNoRef(err):
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: no branch %q", remote, remote.branch())
	default:
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", remote, err)
	}
	head, err := resolve(repo, remote)
	if err != nil {
		return head, err
	}
	if err := checkComplete(repo, head); err != nil {
		if before != nil && before.Hash() != head {
			err = errors.Join(err, repo.Storer.SetReference(before))
		} else if before == nil {
			err = errors.Join(err, repo.Storer.RemoveReference(remote.trackingRef()))
		}
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", remote, err)
	}
	return head, nil
}

// resolve returns the commit the fetched branch points to locally.
func resolve(repo *git.Repository, remote Remote) (plumbing.Hash, error) {
	ref, err := repo.Reference(remote.trackingRef(), true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("branch %q: %w", remote.branch(), err)
	}
	return ref.Hash(), nil
}

func isNoRef(err error) bool {
	var nm git.NoMatchingRefSpecError
	return errors.As(err, &nm) || strings.Contains(err.Error(), "couldn't find remote ref")
}

// LocalTransport returns the transport for local-path and file://
// remotes on this machine: Git's own upload-pack where Git is installed
// (it answers incremental fetches of long histories faster), run so that
// a fetch ends with its context whatever the process does (see
// uploadPackTransport), else go-git's in-process server, so that no Git
// installation is needed. inProcess forces the in-process server.
//
// go-git keeps transports in a process-wide registry; a library must not
// change it behind its caller's back, so the program installs this once
// at start: client.InstallProtocol("file", gitstore.LocalTransport(false)).
func LocalTransport(inProcess bool) transport.Transport {
	if !inProcess {
		if t, ok := newUploadPackTransport(); ok {
			return t
		}
	}
	return server.DefaultServer
}
