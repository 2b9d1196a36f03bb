package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/otagit/otagit/checkin"
	"github.com/otagit/otagit/gitstore"
	"github.com/otagit/otagit/internal/buildinfo"
	"github.com/otagit/otagit/rollout"
)

// statusDoc is the JSON of GET /api/status.
type statusDoc struct {
	gitstore.Status
	// Otagit is this server's version (see buildinfo).
	Otagit buildinfo.Info `json:"otagit"`
	// Serving is false until the first valid commit is loaded.
	Serving   bool          `json:"serving"`
	Platforms []platformDoc `json:"platforms"`
	Devices   int           `json:"devices"`
	// Halts are the releases halted at run time.
	Halts []checkin.Halt `json:"halts"`
	// Recording says how check-in recording keeps up.
	Recording *recordingDoc `json:"recording,omitempty"`
}

type recordingDoc struct {
	Queued    int    `json:"queued"`
	Saved     uint64 `json:"saved"`
	Dropped   uint64 `json:"dropped"`
	LastError string `json:"last_error,omitempty"`
	// Store is where check-ins are kept, and whether a damaged store
	// was set aside at start.
	Store checkin.StoreInfo `json:"store"`
}

type platformDoc struct {
	Name        string       `json:"name"`
	Chip        string       `json:"chip"`
	Description string       `json:"description,omitempty"`
	Devices     int          `json:"devices"`
	Releases    []releaseDoc `json:"releases"`
}

type releaseDoc struct {
	Version string `json:"version"`
	// File is the binary's path in the config repository, "" for a
	// GitHub asset.
	File   string     `json:"file,omitempty"`
	GitHub *githubDoc `json:"github_asset,omitempty"`
	Size   int64      `json:"size"`
	SHA256 string     `json:"sha256"`
	MD5    string     `json:"md5"`
	// Encoding is "gzip" or "zlib" for a compressed binary, with the size
	// of the image devices flash; absent for a raw image.
	Encoding  string `json:"encoding,omitempty"`
	ImageSize int64  `json:"image_size,omitempty"`
	// SketchMD5 is the sketch MD5 a device running the release reports,
	// when it is not MD5 (a compressed or signed image).
	SketchMD5 string `json:"sketch_md5,omitempty"`
	// Filesystem is the release's filesystem image, if any.
	Filesystem *filesystemDoc `json:"filesystem,omitempty"`
}

type filesystemDoc struct {
	File   string `json:"file"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	MD5    string `json:"md5"`
}

// apiStatus answers GET /api/status: the serving commit, when it was
// synced, the last sync error and rejected commit, and what is served.
func (a *API) apiStatus(w http.ResponseWriter, r *http.Request) {
	doc := statusDoc{Otagit: buildinfo.Get()}
	st, snap := a.serving()
	doc.Status = st
	doc.Platforms = []platformDoc{}
	doc.Halts = []checkin.Halt{}
	if a.releases != nil {
		if h := a.releases.Halts(); h != nil {
			doc.Halts = h
		}
	}
	if a.recording != nil {
		ws := a.recording.WriterStats()
		doc.Recording = &recordingDoc{Queued: ws.Queued, Saved: ws.Saved, Dropped: ws.Dropped, Store: a.recording.StoreInfo()}
		if ws.LastError != nil {
			doc.Recording.LastError = ws.LastError.Error()
		}
	}
	if snap != nil {
		doc.Serving = true
		doc.Platforms = platformDocs(snap.Fleet)
		doc.Devices = len(snap.Fleet.Devices())
	}
	writeJSON(w, http.StatusOK, doc)
}

// serving is what /api/status and /healthz both report, so that they
// never disagree: the sync status, and the snapshot served, nil until the
// status names the commit served. Right after a restart the store
// publishes the last good commit's snapshot a moment before its status
// names it; until then the server is still starting.
func (a *API) serving() (gitstore.Status, *gitstore.Snapshot) {
	snap := a.snaps.Current()
	if a.status == nil {
		var st gitstore.Status
		if snap != nil {
			st.Commit, st.Subject, st.CommitTime = snap.Commit, snap.Subject, snap.CommitTime
		}
		return st, snap
	}
	st := a.status.Status()
	if st.Commit == "" {
		snap = nil
	}
	return st, snap
}

func platformDocs(f *rollout.Fleet) []platformDoc {
	count := map[string]int{}
	for _, d := range f.Devices() {
		count[d.Platform]++
	}
	out := make([]platformDoc, 0, len(f.Platforms()))
	for _, p := range f.Platforms() {
		pd := platformDoc{Name: p.Name, Chip: p.Chip, Description: p.Description, Devices: count[p.Name], Releases: []releaseDoc{}}
		for _, rel := range p.Releases {
			rd := releaseDoc{
				Version: rel.Version.String(), File: rel.Artifact.Source.Path, GitHub: githubDocOf(rel.Artifact.Source), Size: rel.Artifact.Size,
				SHA256: rel.Artifact.SHA256, MD5: rel.Artifact.MD5, SketchMD5: rel.Artifact.FlashedMD5,
			}
			if rel.Artifact.Encoding != rollout.Raw {
				rd.Encoding, rd.ImageSize = rel.Artifact.Encoding.String(), rel.Artifact.ImageSize
			}
			if fs := rel.Filesystem; fs != nil {
				rd.Filesystem = &filesystemDoc{File: fs.Source.Path, Size: fs.Size, SHA256: fs.SHA256, MD5: fs.MD5}
			}
			pd.Releases = append(pd.Releases, rd)
		}
		out = append(out, pd)
	}
	return out
}

// githubDoc names the GitHub release asset a release's binary is.
type githubDoc struct {
	Repo     string `json:"repo"`
	Tag      string `json:"tag"`
	Asset    string `json:"asset"`
	Followed bool   `json:"followed"`
}

func githubDocOf(s rollout.Source) *githubDoc {
	if s.GitHub == nil {
		return nil
	}
	return &githubDoc{Repo: s.GitHub.Repo, Tag: s.GitHub.Tag, Asset: s.GitHub.Name, Followed: s.GitHub.Followed}
}

// healthz answers 200 while a config is being served, 503 before, with
// the commit /api/status reports (see serving).
func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	st, snap := a.serving()
	if snap == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "reason": "no config loaded yet"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "commit": st.Commit})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.Header()["Cache-Control"] = noStore
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
