package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bottle-sh/bottle/state"
)

// The UI's pages and forms. It is one more client of bottle's own code:
// the list is listBottles (bottle ls), requests are allRequests (bottle
// requests), decisions are read as bottle logs reads them, and every button
// runs a bottle command in-process (bottle run start|stop, runAnswer of
// bottle approve|deny) as a job whose lines the page streams.

//go:embed ui
var uiFiles embed.FS

var uiPages = template.Must(template.New("").Funcs(template.FuncMap{
	"age":      func(s int64) string { return age(time.Duration(s) * time.Second) },
	"diffLine": diffLineClass,
	"orAll":    orAll,
	"lines":    func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") },
	"dict":     dict,
	"asset":    func(name string) string { return "/static/" + name + "?v=" + assetVersion },
	"stamp":    stamp,
	"when":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}).ParseFS(uiFiles, "ui/*.html"))

// assetVersion names this binary's stylesheet and script in their URLs,
// so a browser may keep them (they change only with the binary).
var assetVersion = func() string {
	h := sha256.New()
	fs.WalkDir(uiFiles, "ui/static", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := uiFiles.ReadFile(path)
			h.Write([]byte(path))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()

type uiServer struct {
	root  string
	guard *guard
	jobs  jobs
	mux   *http.ServeMux
	// every is how often live pages look for new decisions and lines.
	every time.Duration
}

func newUIServer(root, addr, listenHost, token string) *uiServer {
	s := &uiServer{root: root, guard: newGuard(addr, listenHost, token), every: 100 * time.Millisecond}
	static, _ := fs.Sub(uiFiles, "ui/static")
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", s.bottlesPage)
	m.HandleFunc("GET /b/{slug}", s.bottlePage)
	m.HandleFunc("GET /b/{slug}/events", s.bottleEvents)
	m.HandleFunc("POST /b/{slug}/action", s.bottleAction)
	m.HandleFunc("POST /b/{slug}/answer", s.answer)
	m.HandleFunc("GET /jobs/{id}", s.jobPage)
	m.HandleFunc("GET /jobs/{id}/events", s.jobEvents)
	s.mux = m
	return s
}

type ctxKey struct{}

func (s *uiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if !s.guard.hostOK(r.Host) {
		refuse(w, http.StatusMisdirectedRequest, "This server does not answer to the name "+strconv.Quote(r.Host)+": open the address bottle ui printed.")
		return
	}
	if strings.HasPrefix(r.URL.Path, "/static/") && r.Method == http.MethodGet {
		// The stylesheet and script are the same for everyone and change
		// only with the binary (their URLs carry assetVersion).
		w.Header().Set("Cache-Control", "max-age=86400, immutable")
		s.mux.ServeHTTP(w, r)
		return
	}
	if r.URL.Query().Has("token") {
		s.guard.login(w, r)
		return
	}
	sess := s.guard.session(r)
	if sess == nil {
		refuse(w, http.StatusUnauthorized, "Not signed in: open the address with ?token= that bottle ui printed when it started.")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if why := sameOrigin(r, sess); why != "" {
			refuse(w, http.StatusForbidden, "Refused: "+why+".")
			return
		}
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
}

// render writes page name with data, and the session's form token.
func (s *uiServer) render(w http.ResponseWriter, r *http.Request, name string, data map[string]any) {
	data["CSRF"] = r.Context().Value(ctxKey{}).(*uiSession).csrf
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := uiPages.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// dict makes a map of its key, value arguments, for a template's argument.
func dict(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// bottleRow is one bottle of the list.
type bottleRow struct {
	lsEntry
	Services []string // "agent: running", sorted
	Routes   int
	Pending  int
	Stopped  bool
}

func (s *uiServer) bottlesPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	entries, err := listBottles(ctx, s.root, time.Now())
	if err != nil {
		refuse(w, http.StatusInternalServerError, err.Error())
		return
	}
	pending := map[string]int{}
	if rs, err := allRequests(s.root, ""); err == nil {
		for _, q := range rs {
			if q.Status == "pending" {
				pending[q.Slug]++
			}
		}
	}
	rows := make([]bottleRow, 0, len(entries))
	for _, e := range entries {
		row := bottleRow{lsEntry: e, Pending: pending[e.Slug], Stopped: strings.HasPrefix(e.Status, state.Stopped)}
		for _, svc := range slices.Sorted(maps.Keys(e.Services)) {
			row.Services = append(row.Services, svc+": "+e.Services[svc].Status)
		}
		if rs, _, err := routesOf(e.Slug, s.root); err == nil {
			row.Routes = len(rs.Routes)
		}
		rows = append(rows, row)
	}
	showEngine := slices.ContainsFunc(rows, func(b bottleRow) bool { return b.Engine != "" })
	s.render(w, r, "bottles.html", map[string]any{"Title": "Bottles", "Root": s.root, "Bottles": rows, "ShowEngine": showEngine})
}

// slugOK checks the {slug} of the path: a slug with a state directory.
func (s *uiServer) slugOK(w http.ResponseWriter, r *http.Request) (string, bool) {
	slug := r.PathValue("slug")
	if !slugRe.MatchString(slug) {
		refuse(w, http.StatusNotFound, "There is no bottle "+strconv.Quote(slug)+".")
		return "", false
	}
	if _, err := state.Read(s.root, slug); err != nil {
		refuse(w, http.StatusNotFound, err.Error())
		return "", false
	}
	return slug, true
}

func (s *uiServer) bottlePage(w http.ResponseWriter, r *http.Request) {
	slug, ok := s.slugOK(w, r)
	if !ok {
		return
	}
	denied := r.URL.Query().Get("denied") == "1"
	v, err := s.bottleView(r.Context(), slug, denied)
	if err != nil {
		refuse(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.render(w, r, "bottle.html", map[string]any{"Title": slug, "B": v, "Denied": denied})
}

// bottleAction starts, stops or restarts a bottle, as bottle run would.
func (s *uiServer) bottleAction(w http.ResponseWriter, r *http.Request) {
	slug, ok := s.slugOK(w, r)
	if !ok {
		return
	}
	meta, _ := state.Read(s.root, slug)
	stop := []string{"run", "--state", s.root, "stop", "slug=" + slug}
	start := []string{"run", "--state", s.root}
	if at := cmp.Or(meta.Engine.Name, meta.Engine.Host); at != "" {
		start = append(start, "--engine", at) // where it was started before
	}
	start = append(start, "start", "name="+meta.Name)
	if meta.Manifest.Path != "" {
		start = append(start, "manifest="+meta.Manifest.Path)
	}
	if meta.Workspace != nil {
		start = append(start, "workspace="+meta.Workspace.Path)
	}
	var runs [][]string
	switch action := r.PostFormValue("action"); action {
	case "start":
		runs = [][]string{start}
	case "stop":
		runs = [][]string{stop}
	case "restart":
		runs = [][]string{stop, start}
	default:
		refuse(w, http.StatusBadRequest, "Unknown action "+strconv.Quote(action)+": want start, stop or restart.")
		return
	}
	j := s.jobs.start(r.PostFormValue("action")+" "+slug, slug, func(out *job) int {
		for _, args := range runs {
			out.Write([]byte("$ bottle " + strings.Join(args, " ") + "\n"))
			if code := bottleMain(args, out, out); code != exitOK {
				return code
			}
		}
		return exitOK
	})
	http.Redirect(w, r, "/jobs/"+j.ID, http.StatusSeeOther)
}

// answer approves or denies one of the bottle's requests, as bottle
// approve and bottle deny do.
func (s *uiServer) answer(w http.ResponseWriter, r *http.Request) {
	slug, ok := s.slugOK(w, r)
	if !ok {
		return
	}
	id := r.PostFormValue("id")
	rs, err := allRequests(s.root, slug)
	if err != nil || !slices.ContainsFunc(rs, func(q slugRequest) bool { return q.ID == id }) {
		refuse(w, http.StatusNotFound, "Bottle "+slug+" has no request "+strconv.Quote(id)+".")
		return
	}
	recipe := r.PostFormValue("decision")
	var kv []string
	switch recipe {
	case "approve":
		g := grant{Paths: r.PostFormValue("paths"), Methods: r.PostFormValue("methods"),
			Reason: r.PostFormValue("reason"), Private: r.PostFormValue("private") == "1"}
		switch r.PostFormValue("term") {
		case "for":
			g.For = r.PostFormValue("for")
		case "uses":
			n, err := strconv.Atoi(r.PostFormValue("uses"))
			if err != nil || n < 1 {
				refuse(w, http.StatusBadRequest, "Uses: want a whole number of requests, 1 or more.")
				return
			}
			g.Uses = n
		case "permanent":
			g.Permanent = true
		default:
			refuse(w, http.StatusBadRequest, "Say how long the grant lasts: for a time, for a number of uses, or permanently.")
			return
		}
		if kv, err = g.recipeArgs(); err != nil {
			refuse(w, http.StatusBadRequest, err.Error())
			return
		}
	case "deny":
		if reason := r.PostFormValue("reason"); reason != "" {
			kv = append(kv, "reason="+reason)
		}
	default:
		refuse(w, http.StatusBadRequest, "Unknown decision "+strconv.Quote(recipe)+": want approve or deny.")
		return
	}
	j := s.jobs.start(recipe+" "+id+" ("+slug+")", slug, func(out *job) int {
		return runAnswer(recipe, id, s.root, kv, out, out)
	})
	http.Redirect(w, r, "/jobs/"+j.ID, http.StatusSeeOther)
}

func (s *uiServer) jobPage(w http.ResponseWriter, r *http.Request) {
	j := s.jobs.get(r.PathValue("id"))
	if j == nil {
		refuse(w, http.StatusNotFound, "There is no such job (the UI keeps the last "+strconv.Itoa(jobsKept)+").")
		return
	}
	lines, done, code, _ := j.since(0)
	s.render(w, r, "job.html", map[string]any{"Title": j.Title, "Job": j, "Lines": lines, "Done": done, "Code": code})
}

// stateDir is the bottle's state directory.
func (s *uiServer) stateDir(slug string) string { return filepath.Join(s.root, slug) }
