package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportCommands runs custody import on the embedded store: a dry run
// reports and writes nothing, the real run applies the good rows and
// reports the rest with their lines (exit 1), a re-run changes nothing,
// and a file that cannot be read is refused as a whole.
func TestImportCommands(t *testing.T) {
	env := map[string]string{"CUSTODY_DATA_DIR": t.TempDir()}
	if code, out, stderr := runCLI(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme Corp"); code != exitOK {
		t.Fatalf("tenant create = %d %s %s", code, out, stderr)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	people := write("people.csv", "employee_id,name,email,department,status\n"+
		"E1,Ada Lovelace,ada@acme.example,Engineering,Active\n"+
		"E2,Grace Hopper,not-an-email,Engineering,Active\n")
	assets := write("assets.csv", "Serialnumber,BarCode,Manufacturer,Model,AssetTypename\n"+
		"PF01,ACME-1,Lenovo,ThinkPad T14,Notebook\n"+
		"PF01,ACME-2,Lenovo,ThinkPad T14,Notebook\n")
	// A good row, then a quote never closed: the file is refused before
	// the good row is applied, which the dry run of the row alone shows.
	unclosed := write("unclosed.csv", "Serialnumber,BarCode,Manufacturer,Model,AssetTypename\n"+
		"PF02,ACME-3,Lenovo,ThinkPad T14,Notebook\n"+
		"PF03,\"ACME-4,Lenovo,ThinkPad T14,Notebook\n"+
		"PF04,ACME-5,Lenovo,ThinkPad T14,Notebook\n")
	pf02 := write("pf02.csv", "Serialnumber,BarCode,Manufacturer,Model,AssetTypename\n"+
		"PF02,ACME-3,Lenovo,ThinkPad T14,Notebook\n")

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // in stdout, or stderr for exit 2
	}{
		{"people, dry", []string{"import", "people", "--tenant", "acme", "--dry-run", people}, exitError,
			[]string{"dry run, nothing written: would import 2 records: 1 created", "line 3, email:"}},
		{"people", []string{"import", "people", "--tenant", "acme", people}, exitError,
			[]string{"imported 2 records: 1 created, 0 updated, 0 unchanged, 1 refused"}},
		{"people again", []string{"import", "people", "--tenant", "acme", people}, exitError,
			[]string{"0 created, 0 updated, 1 unchanged, 1 refused"}},
		{"assets from Lansweeper", []string{"import", "assets", "--tenant", "acme", "--profile", "lansweeper", "--progress", assets}, exitError,
			[]string{"1 created", "line 3, Serialnumber: "}},
		{"assets as JSON", []string{"import", "assets", "--tenant", "acme", "--profile", "lansweeper", "--json", assets}, exitError,
			[]string{`"unchanged": 1`}},
		{"an unknown profile", []string{"import", "assets", "--tenant", "acme", "--profile", "sap", assets}, exitUsage, []string{"--profile"}},
		{"a mapping without --map", []string{"import", "assets", "--tenant", "acme", "--profile", "mapping", assets}, exitUsage, []string{"--map"}},
		{"no file", []string{"import", "people", "--tenant", "acme"}, exitUsage, []string{"one CSV file"}},
		{"a file of another shape", []string{"import", "people", "--tenant", "acme", assets}, exitError, []string{"assets.csv: line 1: no header"}},
		{"a quote never closed", []string{"import", "assets", "--tenant", "acme", "--profile", "lansweeper", "--progress", unclosed}, exitError,
			[]string{"unclosed.csv: line 4: a quote opened on line 3 is never closed"}},
		{"nothing of the refused file was applied", []string{"import", "assets", "--tenant", "acme", "--profile", "lansweeper", "--dry-run", pf02},
			exitOK, []string{"would import 1 record: 1 created"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, stderr)
			}
			got := out
			if code != exitOK && !strings.Contains(out, tc.want[0]) {
				got = stderr
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", w, out, stderr)
				}
			}
		})
	}
}
