package hubtest

import (
	"net/http"
	"strings"
	"testing"
)

// TestServerAnswers checks the headers the fake hub answers, as the real hub's.
func TestServerAnswers(t *testing.T) {
	s := New(t, map[string]map[string][]byte{"org/m": {"config.json": []byte("{}"), "model.safetensors": []byte("weights")}})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	head := func(path, token string) *http.Response {
		req, _ := http.NewRequest(http.MethodHead, s.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	commit := s.Commit("org/m")
	if len(commit) != 40 {
		t.Fatalf("commit %q", commit)
	}

	r := head("/org/m/resolve/main/model.safetensors", "")
	sha := ETag("model.safetensors", []byte("weights"))
	if r.StatusCode != http.StatusFound || r.Header.Get("X-Repo-Commit") != commit || r.Header.Get("X-Linked-Etag") != `"`+sha+`"` ||
		r.Header.Get("X-Linked-Size") != "7" || !strings.HasPrefix(r.Header.Get("Location"), s.CDNURL+"/lfs/"+sha+"?") {
		t.Errorf("large file: %s %v", r.Status, r.Header)
	}
	r = head("/org/m/resolve/"+commit+"/config.json", "")
	if r.StatusCode != http.StatusOK || r.Header.Get("ETag") != `"`+ETag("config.json", []byte("{}"))+`"` || r.ContentLength != 2 {
		t.Errorf("small file: %s %v", r.Status, r.Header)
	}
	// The git blob hash of "{}", as `git hash-object` computes it.
	if got := ETag("config.json", []byte("{}")); got != "9e26dfeeb6e641a33dae4961196235bdb965b21b" {
		t.Errorf("git blob hash %s", got)
	}
	for path, code := range map[string]string{
		"/org/none/resolve/main/config.json": "RepoNotFound",
		"/org/m/resolve/v2/config.json":      "RevisionNotFound",
		"/org/m/resolve/main/none.json":      "EntryNotFound",
	} {
		if r := head(path, ""); r.StatusCode != http.StatusNotFound || r.Header.Get("X-Error-Code") != code {
			t.Errorf("%s: %s %s", path, r.Status, r.Header.Get("X-Error-Code"))
		}
	}
	s.Gate("org/m", "tok")
	for token, status := range map[string]int{"": 401, "bad": 403, "tok": 200} {
		if r := head("/org/m/resolve/main/config.json", token); r.StatusCode != status {
			t.Errorf("gated, token %q: %s", token, r.Status)
		}
	}
	if st := s.Stats(); st.Head != 8 || st.Requests() != 8 {
		t.Errorf("stats %+v", st)
	}
}
