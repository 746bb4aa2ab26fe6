package csvsafe

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestSafeCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"PF3ABC12", "PF3ABC12"},
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"a=1", "a=1"},
		{" =1", " =1"},
		{"'quoted", "'quoted"},
		{"Écologie", "Écologie"},
	} {
		if got := SafeCell(tc.in); got != tc.want {
			t.Errorf("SafeCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"two\nlines", "two lines"},
		{"crlf\r\nend", "crlf end"},
		{"cr\rend", "cr end"},
		{"\r=1+1", "' =1+1"}, // quoted before the break becomes a space
		{"\r\n=1", "' =1"},
		{"-5\n=1", "'-5 =1"},
		{"a\n\nb", "a  b"},
	} {
		if got := Cell(tc.in); got != tc.want {
			t.Errorf("Cell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriterRoundTrip(t *testing.T) {
	for _, bom := range []bool{false, true} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, bom)
		if err != nil {
			t.Fatal(err)
		}
		in := [][]string{
			{"h1", "h2", "h3"},
			{`say "hi"`, "a,b", "x\ny"},
			{"=cmd", "", " lead"},
		}
		orig := slices.Clone(in[2])
		for _, r := range in {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(in[2], orig) {
			t.Errorf("Write modified the caller's record: %q", in[2])
		}
		out := buf.Bytes()
		if got := bytes.HasPrefix(out, []byte(BOM)); got != bom {
			t.Errorf("bom=%v: output starts with a byte order mark: %v", bom, got)
		}
		recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(out, []byte(BOM)))).ReadAll()
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		want := [][]string{in[0], {`say "hi"`, "a,b", "x y"}, {"'=cmd", "", " lead"}}
		if len(recs) != len(want) {
			t.Fatalf("read %d records, want %d", len(recs), len(want))
		}
		for i := range want {
			if !slices.Equal(recs[i], want[i]) {
				t.Errorf("record %d = %q, want %q", i, recs[i], want[i])
			}
		}
	}
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrors(t *testing.T) {
	if _, err := NewWriter(failingWriter{}, true); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("NewWriter with a byte order mark on a failing writer: %v", err)
	}
	w, err := NewWriter(failingWriter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]string{"a"}); err != nil {
		t.Fatalf("a buffered write failed: %v", err)
	}
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Flush on a failing writer: %v", err)
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	w, err := NewWriter(io.Discard, false)
	if err != nil {
		t.Fatal(err)
	}
	rec := []string{"PF3ABC12", "ACME-0042", "Lenovo ThinkPad T14s", `quoted "x", y`, ""}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil { // keep the buffer from growing
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Write of a clean record allocates %.1f times", allocs)
	}
}
