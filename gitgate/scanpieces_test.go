package gitgate

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/zricethezav/gitleaks/v8/detect"
	gitleaks "github.com/zricethezav/gitleaks/v8/report"
)

// hitsOf is what the gate reports of findings: rule and line.
func hitsOf[F interface{ ~[]E }, E any](found F, key func(E) string) []string {
	var out []string
	for _, f := range found {
		out = append(out, key(f))
	}
	sort.Strings(out)
	return out
}

// compare scans text both ways, all rules on the whole text (gitleaks'
// own way, as the gate did before pieces) and the gate's way, and fails
// unless they report the same rules on the same lines.
func compare(t *testing.T, s *secretScanner, name, text string) []string {
	t.Helper()
	key := func(f gitleaksFinding) string { return fmt.Sprintf("%s:%d:%d", f.RuleID, f.StartLine+1, f.StartColumn) }
	want := hitsOf(s.detector.Detect(fragment(name, text)), key)
	got := hitsOf(s.detect(name, text), key)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s: in pieces %v, whole %v", name, got, want)
	}
	return got
}

// filler is n lines of code-like text without a keyword of any rule
// (lengths vary, so piece boundaries fall at every kind of place).
func filler(n, seed int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat("x", (i*7+seed)%90))
		b.WriteString(fmt.Sprintf(" := moo(%d)\n", i))
	}
	return b.String()
}

const (
	testGitHub = "ghp_" + "R4nd0mL00k1ngT0k3nF0rT3st1ngGate0123"
	testAWS    = "AKIA" + "QYLPMN5HHHFPZAM2"
)

// A secret on every line around several piece boundaries, with every
// amount of text before it on its line, is found with its rule and line,
// as scanning the whole blob finds it.
func TestScanPiecesBoundaries(t *testing.T) {
	s := &secretScanner{}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ line, secret, rule string }{
		{"GITHUB_TOKEN=" + testGitHub, testGitHub, "github-pat"},
		{"aws_access_key_id = " + testAWS, testAWS, "aws-access-token"},
		// a match across three lines, which a piece's overlap must hold
		{"api_secret =\n\n\t\"k3Yp9sZq7WmX2vLr8TnB4hQd\"", "api_secret", "generic-api-key"},
	} {
		for at := 30; at < 130; at++ {
			for _, pad := range []int{0, 61} {
				lines := strings.SplitAfter(filler(300, pad), "\n")
				lines[at] = strings.Repeat(" ", pad) + tc.line + "\n"
				text := strings.Join(lines, "")
				got := compare(t, s, "f.go", text)
				want := fmt.Sprintf("%s:%d:%d", tc.rule, at+1, column(at, pad+strings.Index(tc.line, tc.secret)))
				if !contains(got, want) {
					t.Fatalf("line %d pad %d: want %s, got %v", at+1, pad, want, got)
				}
			}
		}
	}
}

// column is gitleaks' column of the byte at offset on line (from 0): it
// counts from the newline before, so one more after the first line.
func column(line, offset int) int {
	if line == 0 {
		return offset + 1
	}
	return offset + 2
}

func contains(set []string, s string) bool {
	for _, x := range set {
		if x == s {
			return true
		}
	}
	return false
}

// A private key block longer than several pieces, beginning at various
// places, is found on its first line; so is a secret on the last line
// without a newline.
func TestScanPiecesLongAndLast(t *testing.T) {
	s := &secretScanner{}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	var key strings.Builder
	key.WriteString("-----BEGIN RSA PRIVATE KEY-----\n")
	for i := range 200 {
		key.WriteString(fmt.Sprintf("MIIEow%058dQ7zF\n", i*7919))
	}
	key.WriteString("-----END RSA PRIVATE KEY-----\n")
	if key.Len() < 3*pieceSize {
		t.Fatalf("the key block is %d bytes, not several pieces", key.Len())
	}
	for _, before := range []int{0, 1, 37, 64, 65, 100} {
		text := filler(before, 5) + key.String() + filler(150, 9)
		got := compare(t, s, "id_rsa", text)
		if want := fmt.Sprintf("private-key:%d:%d", before+1, column(before, 0)); !contains(got, want) {
			t.Fatalf("want %s, got %v", want, got)
		}
	}
	for _, n := range []int{0, 1, 70, 71, 140} {
		text := filler(n, 3) + "token = " + testGitHub
		got := compare(t, s, "last.env", text)
		if want := fmt.Sprintf("github-pat:%d:%d", n+1, column(n, 8)); !contains(got, want) {
			t.Fatalf("want %s, got %v", want, got)
		}
	}
}

// The long s (U+017F) matches "s" in a rule's (?i) but holds no keyword:
// gitleaks finds "ſecret = ..." when "secret" is elsewhere in the blob, so
// a blob with one is scanned whole.
func TestScanPiecesLongS(t *testing.T) {
	s := &secretScanner{}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	text := "// secret\n" + filler(300, 1) + "ſecret = \"k3Yp9sZq7WmX2vLr8TnB4hQd\"\n"
	if got := compare(t, s, "x.go", text); !contains(got, "generic-api-key:302:2") {
		t.Fatalf("want generic-api-key:302:2, got %v", got)
	}
}

// The gate's scan reports what gitleaks reports scanning whole files,
// rule by rule and line by line, on a few MB of the Go tree's source (it
// holds findings: test keys, tokens in docs) with secrets sown in.
func TestScanPiecesSameAsWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("scans a few MB")
	}
	s := &secretScanner{}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	total, files, withHits := 0, 0, 0
	root := filepath.Join(runtime.GOROOT(), "src", "crypto")
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || total > 4<<20 {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil || strings.IndexByte(string(data), 0) >= 0 {
			return nil
		}
		text := string(data)
		if files%3 == 0 {
			text += "\nkey := \"" + testGitHub + "\"\n" + text[:len(text)/2] + "aws_secret = " + testAWS
		}
		if len(compare(t, s, path, text)) > 0 {
			withHits++
		}
		total += len(text)
		files++
		return nil
	})
	if withHits < 20 {
		t.Fatalf("only %d of %d files had findings: the comparison shows little", withHits, files)
	}
	t.Logf("%d files, %d bytes, %d with findings", files, total, withHits)
}

type gitleaksFinding = gitleaks.Finding

func fragment(name, text string) detect.Fragment {
	return detect.Fragment{Raw: text, FilePath: name}
}
