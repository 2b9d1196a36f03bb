package fakegithub

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Release is a GitHub release as a test describes it.
type Release struct {
	// Tag is the release's tag name; it identifies the release in
	// DeleteRelease and EditRelease.
	Tag string
	// Name is the release title.
	Name string
	// Draft and Prerelease are GitHub's flags.
	Draft, Prerelease bool
	// PublishedAt is reported as published_at. Zero means "when the
	// release was added (or stopped being a draft)"; drafts always report
	// null, as on GitHub.
	PublishedAt time.Time
	// Assets are the files attached to the release, in order.
	Assets []Asset
}

// Asset is a file attached to a release.
type Asset struct {
	// Name is the asset's file name.
	Name string
	// Data is the asset's content.
	Data []byte
}

// release is a stored Release with the fields GitHub assigns.
type release struct {
	id        int64
	r         Release
	createdAt time.Time
	assets    []assetMeta // parallel to r.Assets
}

type assetMeta struct {
	id                   int64
	createdAt, updatedAt time.Time
}

// AddRelease adds a release to repo ("owner/name") and returns its id.
// Releases are listed newest (last added) first, as GitHub lists them.
func (s *Server) AddRelease(repo string, r Release) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	rel := &release{id: s.id(), createdAt: s.now()}
	s.update(rel, r)
	s.repo(repo).releases = append(s.repo(repo).releases, rel)
	return rel.id
}

// DeleteRelease removes the release of repo with the given tag, if any.
func (s *Server) DeleteRelease(repo, tag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repo(repo)
	rs.releases = slices.DeleteFunc(rs.releases, func(r *release) bool { return r.r.Tag == tag })
}

// EditRelease changes the release of repo with the given tag in place: f
// receives a copy of the release and may change anything, including the
// tag. As on GitHub, an asset whose content changes is a new upload: it
// gets a new id and a later updated_at; an unchanged asset keeps both.
// It does nothing if there is no such release.
func (s *Server) EditRelease(repo, tag string, f func(*Release)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rel := range s.repo(repo).releases {
		if rel.r.Tag != tag {
			continue
		}
		r := rel.r
		r.Assets = slices.Clone(r.Assets)
		wasDraft := r.Draft
		f(&r)
		if wasDraft && !r.Draft && r.PublishedAt.IsZero() {
			r.PublishedAt = s.now()
		}
		s.update(rel, r)
		return
	}
}

// update stores r in rel, keeping the ids of unchanged assets. s.mu must
// be held.
func (s *Server) update(rel *release, r Release) {
	if !r.Draft && r.PublishedAt.IsZero() {
		r.PublishedAt = rel.createdAt
	}
	r.Assets = slices.Clone(r.Assets) // the caller keeps its slice
	old := make(map[string]int, len(rel.r.Assets))
	for i, a := range rel.r.Assets {
		old[a.Name] = i
	}
	metas := make([]assetMeta, len(r.Assets))
	for i, a := range r.Assets {
		r.Assets[i].Data = bytes.Clone(a.Data)
		if j, ok := old[a.Name]; ok && bytes.Equal(rel.r.Assets[j].Data, a.Data) {
			metas[i] = rel.assets[j]
			continue
		}
		t := s.now()
		metas[i] = assetMeta{id: s.id(), createdAt: t, updatedAt: t}
	}
	rel.r, rel.assets = r, metas
}

// findAsset returns the asset of repo with id, or ok false. s.mu must be
// held.
func (s *Server) findAsset(repo string, id int64) (rel *release, i int, ok bool) {
	for _, rel := range s.repo(repo).releases {
		for i, m := range rel.assets {
			if m.id == id {
				return rel, i, true
			}
		}
	}
	return nil, 0, false
}

// findAssetAnyRepo returns the asset with id in any repository. s.mu must
// be held.
func (s *Server) findAssetAnyRepo(id int64) (a Asset, ok bool) {
	for _, rs := range s.repos {
		for _, rel := range rs.releases {
			for i, m := range rel.assets {
				if m.id == id {
					return rel.r.Assets[i], true
				}
			}
		}
	}
	return Asset{}, false
}

// JSON shapes, as GitHub sends them (the fields go-github decodes).
type (
	userJSON struct {
		Login string `json:"login"`
		ID    int64  `json:"id"`
		Type  string `json:"type"`
	}
	releaseJSON struct {
		ID              int64       `json:"id"`
		URL             string      `json:"url"`
		HTMLURL         string      `json:"html_url"`
		AssetsURL       string      `json:"assets_url"`
		UploadURL       string      `json:"upload_url"`
		TagName         string      `json:"tag_name"`
		TargetCommitish string      `json:"target_commitish"`
		Name            string      `json:"name"`
		Body            string      `json:"body"`
		Draft           bool        `json:"draft"`
		Prerelease      bool        `json:"prerelease"`
		CreatedAt       string      `json:"created_at"`
		PublishedAt     *string     `json:"published_at"`
		Author          userJSON    `json:"author"`
		Assets          []assetJSON `json:"assets"`
	}
	assetJSON struct {
		ID                 int64    `json:"id"`
		URL                string   `json:"url"`
		BrowserDownloadURL string   `json:"browser_download_url"`
		Name               string   `json:"name"`
		Label              string   `json:"label"`
		State              string   `json:"state"`
		ContentType        string   `json:"content_type"`
		Size               int      `json:"size"`
		DownloadCount      int      `json:"download_count"`
		CreatedAt          string   `json:"created_at"`
		UpdatedAt          string   `json:"updated_at"`
		Uploader           userJSON `json:"uploader"`
	}
)

var bot = userJSON{Login: "github-actions[bot]", ID: 41898282, Type: "Bot"}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// releaseJSON renders rel of repo. s.mu must be held.
func (s *Server) releaseJSON(repo string, rel *release) releaseJSON {
	api := s.URL + "repos/" + repo + "/releases/" + strconv.FormatInt(rel.id, 10)
	j := releaseJSON{
		ID:              rel.id,
		URL:             api,
		HTMLURL:         "https://github.com/" + repo + "/releases/tag/" + url.PathEscape(rel.r.Tag),
		AssetsURL:       api + "/assets",
		UploadURL:       "https://uploads.github.com/repos/" + repo + "/releases/" + strconv.FormatInt(rel.id, 10) + "/assets{?name,label}",
		TagName:         rel.r.Tag,
		TargetCommitish: "main",
		Name:            rel.r.Name,
		Draft:           rel.r.Draft,
		Prerelease:      rel.r.Prerelease,
		CreatedAt:       stamp(rel.createdAt),
		Author:          bot,
		Assets:          []assetJSON{},
	}
	if !rel.r.Draft {
		p := stamp(rel.r.PublishedAt)
		j.PublishedAt = &p
	}
	for i := range rel.r.Assets {
		j.Assets = append(j.Assets, s.assetJSON(repo, rel, i))
	}
	return j
}

// assetJSON renders asset i of rel. s.mu must be held.
func (s *Server) assetJSON(repo string, rel *release, i int) assetJSON {
	a, m := rel.r.Assets[i], rel.assets[i]
	return assetJSON{
		ID:                 m.id,
		URL:                s.URL + "repos/" + repo + "/releases/assets/" + strconv.FormatInt(m.id, 10),
		BrowserDownloadURL: s.downloadURL(m.id, a.Name),
		Name:               a.Name,
		State:              "uploaded",
		ContentType:        "application/octet-stream",
		Size:               len(a.Data),
		CreatedAt:          stamp(m.createdAt),
		UpdatedAt:          stamp(m.updatedAt),
		Uploader:           bot,
	}
}

// downloadURL is where an asset's bytes are served. s.mu must be held.
func (s *Server) downloadURL(id int64, name string) string {
	base := s.downloadBase
	if base == "" {
		base = s.URL
	}
	return base + "download/" + strconv.FormatInt(id, 10) + "/" + url.PathEscape(name)
}

func repoName(r *http.Request) string {
	return r.PathValue("owner") + "/" + r.PathValue("repo")
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) {
	repo := repoName(r)
	s.mu.Lock()
	rels := s.repo(repo).releases
	all := make([]releaseJSON, 0, len(rels))
	for i := len(rels) - 1; i >= 0; i-- {
		all = append(all, s.releaseJSON(repo, rels[i]))
	}
	s.mu.Unlock()
	writeCacheable(w, r, page(s, w, r, all))
}

func (s *Server) releaseByTag(w http.ResponseWriter, r *http.Request) {
	repo, tag := repoName(r), r.PathValue("tag")
	s.mu.Lock()
	var found *releaseJSON
	for _, rel := range s.repo(repo).releases {
		// GitHub does not find drafts by tag: a draft's tag does not
		// exist yet.
		if rel.r.Tag == tag && !rel.r.Draft {
			j := s.releaseJSON(repo, rel)
			found = &j
		}
	}
	s.mu.Unlock()
	if found == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeCacheable(w, r, found)
}

// asset answers the asset endpoint: JSON metadata, or with
// "Accept: application/octet-stream" a 302 to the download URL.
func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	repo := repoName(r)
	id, ok := parseID(r.PathValue("id"))
	s.mu.Lock()
	var (
		meta     assetJSON
		location string
	)
	if ok {
		var rel *release
		var i int
		if rel, i, ok = s.findAsset(repo, id); ok {
			meta = s.assetJSON(repo, rel, i)
			location = s.downloadURL(id, rel.r.Assets[i].Name)
		}
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/octet-stream") {
		http.Redirect(w, r, location, http.StatusFound)
		return
	}
	writeCacheable(w, r, meta)
}

// download serves an asset's bytes, as GitHub's storage host does: no
// token needed, exact Content-Length.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	var a Asset
	if ok {
		s.mu.Lock()
		a, ok = s.findAssetAnyRepo(id)
		s.mu.Unlock()
	}
	if !ok || a.Name != r.PathValue("name") {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(a.Data)))
	w.Header().Set("Content-Disposition", "attachment; filename="+strconv.Quote(a.Name))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(a.Data)
	}
}
