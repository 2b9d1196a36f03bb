package fakegithub

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Status is a commit status a client created.
type Status struct {
	// State is "error", "failure", "pending" or "success".
	State string
	// Description is the status's one line (at most 140 characters).
	Description string
	// Context names the check; GitHub's default is "default".
	Context string
	// TargetURL is the link the status carries, "" if none.
	TargetURL string
}

// Comment is an issue or pull request comment.
type Comment struct {
	// ID is GitHub's comment id.
	ID int64
	// Body is the comment's Markdown.
	Body string
}

// comment is a stored Comment with its author and times.
type comment struct {
	Comment
	author               userJSON
	createdAt, updatedAt time.Time
}

// person is the author of comments added with AddComment: a pull request's
// author or reviewer, not the token's user.
var person = userJSON{Login: "octocat", ID: 583231, Type: "User"}

// Statuses returns the statuses created for sha in repo, oldest first.
func (s *Server) Statuses(repo, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.repo(repo).statuses[sha])
}

// Comments returns the current comments of issue or pull request pr in
// repo, oldest first.
func (s *Server) Comments(repo string, pr int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.repo(repo).comments[pr] {
		out = append(out, c.Comment)
	}
	return out
}

// AddComment adds a comment to issue or pull request pr of repo, as a
// person would, and returns its id.
func (s *Server) AddComment(repo string, pr int, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.addComment(repo, pr, body)
	c.author = person
	return c.ID
}

// DeleteComment deletes the comment with id from repo, as a person
// would. It does nothing if there is none.
func (s *Server) DeleteComment(repo string, id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.repo(repo)
	for pr, cs := range rs.comments {
		rs.comments[pr] = slices.DeleteFunc(cs, func(c *comment) bool { return c.ID == id })
	}
}

// addComment stores a new comment. s.mu must be held.
func (s *Server) addComment(repo string, pr int, body string) *comment {
	t := s.now()
	c := &comment{Comment: Comment{ID: s.id(), Body: body}, author: bot, createdAt: t, updatedAt: t}
	rs := s.repo(repo)
	rs.comments[pr] = append(rs.comments[pr], c)
	return c
}

type (
	statusJSON struct {
		ID          int64    `json:"id"`
		URL         string   `json:"url"`
		State       string   `json:"state"`
		Description string   `json:"description"`
		TargetURL   *string  `json:"target_url"`
		Context     string   `json:"context"`
		CreatedAt   string   `json:"created_at"`
		UpdatedAt   string   `json:"updated_at"`
		Creator     userJSON `json:"creator"`
	}
	commentJSON struct {
		ID        int64    `json:"id"`
		URL       string   `json:"url"`
		HTMLURL   string   `json:"html_url"`
		Body      string   `json:"body"`
		User      userJSON `json:"user"`
		CreatedAt string   `json:"created_at"`
		UpdatedAt string   `json:"updated_at"`
	}
)

// decodeBody decodes a JSON request body into v, answering 400 if it
// cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	var in struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	switch in.State {
	case "error", "failure", "pending", "success":
	default:
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed")
		return
	}
	if len([]rune(in.Description)) > 140 {
		// GitHub refuses longer descriptions.
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed: description is too long (maximum is 140 characters)")
		return
	}
	if in.Context == "" {
		in.Context = "default"
	}
	repo, sha := repoName(r), r.PathValue("sha")
	s.mu.Lock()
	rs := s.repo(repo)
	rs.statuses[sha] = append(rs.statuses[sha], Status{
		State: in.State, Description: in.Description, Context: in.Context, TargetURL: in.TargetURL,
	})
	id, t := s.id(), stamp(s.now())
	s.mu.Unlock()
	out := statusJSON{
		ID: id, URL: s.URL + "repos/" + repo + "/statuses/" + sha,
		State: in.State, Description: in.Description, Context: in.Context,
		CreatedAt: t, UpdatedAt: t, Creator: bot,
	}
	if in.TargetURL != "" {
		out.TargetURL = &in.TargetURL
	}
	writeJSON(w, http.StatusCreated, out)
}

// commentJSON renders c. s.mu must be held.
func (s *Server) commentJSON(repo string, pr int, c *comment) commentJSON {
	return commentJSON{
		ID:        c.ID,
		URL:       s.URL + "repos/" + repo + "/issues/comments/" + strconv.FormatInt(c.ID, 10),
		HTMLURL:   "https://github.com/" + repo + "/pull/" + strconv.Itoa(pr) + "#issuecomment-" + strconv.FormatInt(c.ID, 10),
		Body:      c.Body,
		User:      c.author,
		CreatedAt: stamp(c.createdAt),
		UpdatedAt: stamp(c.updatedAt),
	}
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	repo := repoName(r)
	pr, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || pr <= 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.mu.Lock()
	all := []commentJSON{}
	for _, c := range s.repo(repo).comments[pr] {
		all = append(all, s.commentJSON(repo, pr, c))
	}
	s.mu.Unlock()
	writeCacheable(w, r, page(s, w, r, all))
}

func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	repo := repoName(r)
	pr, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || pr <= 0 {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var in struct {
		Body string `json:"body"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Body == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed")
		return
	}
	s.mu.Lock()
	out := s.commentJSON(repo, pr, s.addComment(repo, pr, in.Body))
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) editComment(w http.ResponseWriter, r *http.Request) {
	repo := repoName(r)
	id, ok := parseID(r.PathValue("id"))
	var in struct {
		Body string `json:"body"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Body == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed")
		return
	}
	s.mu.Lock()
	var out *commentJSON
	if ok {
		for pr, cs := range s.repo(repo).comments {
			for _, c := range cs {
				if c.ID == id {
					c.Body, c.updatedAt = in.Body, s.now()
					j := s.commentJSON(repo, pr, c)
					out = &j
				}
			}
		}
	}
	s.mu.Unlock()
	if out == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, *out)
}
