package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/importcsv"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/tenancy"
)

// importActor is the service member imports are recorded for.
const importActor = "custody import"

// importAssetsCmd imports ITAM assets from a CSV file.
func importAssetsCmd() *command {
	var tenant, profile, mapping string
	var dryRun, asJSON, progress bool
	var file string
	return &command{
		name:    "import assets",
		args:    "--tenant <slug|id> --profile servicenow|lansweeper|custody|mapping [--map field=Column,...] [--dry-run] FILE.csv",
		summary: "import ITAM assets from a CSV (upsert by serial and asset tag); --dry-run reports every bad row and writes nothing",
		kind:    adminCommand,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tenant, "tenant", "", "tenant slug or id")
			fs.StringVar(&profile, "profile", "", "the file's shape: "+profileList())
			fs.StringVar(&mapping, "map", "", "with --profile mapping: field=Column pairs, comma-separated (fields: serial, tag, make, model, category, bears_data, assignee, itam_ref, install_status, state, condition)")
			importFlags(fs, &dryRun, &asJSON, &progress)
		},
		operands: oneFile(&file),
		run: func(ctx context.Context, e env, cfg *config) error {
			if tenant == "" {
				return usagef("--tenant is required")
			}
			p, err := importcsv.ParseAssetProfile(profile)
			if err != nil {
				return usagef("--profile must be one of %s, got %q", profileList(), profile)
			}
			var m map[string]string
			switch {
			case p == importcsv.ProfileMapping && mapping == "":
				return usagef("--profile mapping needs --map field=Column,...")
			case p != importcsv.ProfileMapping && mapping != "":
				return usagef("--map goes with --profile mapping")
			case mapping != "":
				if m, err = importcsv.ParseMapping(mapping); err != nil {
					return usagef("--map: %v", err)
				}
			}
			return runImport(ctx, e, cfg, tenant, file, string(p), dryRun, asJSON, progress,
				func(ctx context.Context, svc *domain.Service, r io.ReadSeeker, opts domain.ImportOptions) (*domain.ImportReport, error) {
					return importcsv.ImportAssets(ctx, svc, r, p, m, opts)
				})
		},
	}
}

// importPeopleCmd imports people from an HRIS CSV file.
func importPeopleCmd() *command {
	var tenant string
	var dryRun, asJSON, progress bool
	var file string
	return &command{
		name:    "import people",
		args:    "--tenant <slug|id> [--dry-run] FILE.csv",
		summary: "import people from an HRIS CSV (employee id, name, email, department, status; upsert by employee id)",
		kind:    adminCommand,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tenant, "tenant", "", "tenant slug or id")
			importFlags(fs, &dryRun, &asJSON, &progress)
		},
		operands: oneFile(&file),
		run: func(ctx context.Context, e env, cfg *config) error {
			if tenant == "" {
				return usagef("--tenant is required")
			}
			return runImport(ctx, e, cfg, tenant, file, "hris", dryRun, asJSON, progress,
				func(ctx context.Context, svc *domain.Service, r io.ReadSeeker, opts domain.ImportOptions) (*domain.ImportReport, error) {
					return importcsv.ImportPeople(ctx, svc, r, opts)
				})
		},
	}
}

func importFlags(fs *flag.FlagSet, dryRun, asJSON, progress *bool) {
	fs.BoolVar(dryRun, "dry-run", false, "check every row against the tenant's records and report; write nothing")
	fs.BoolVar(asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(progress, "progress", false, "draw a progress bar on stderr even when it is not a terminal")
}

func oneFile(file *string) func(args []string) error {
	return func(args []string) error {
		if len(args) != 1 {
			return usagef("give one CSV file, got %d", len(args))
		}
		*file = args[0]
		return nil
	}
}

func profileList() string {
	names := make([]string, len(importcsv.AssetProfiles))
	for i, p := range importcsv.AssetProfiles {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// errRowsRefused makes the exit status 1 when rows were refused; the
// report says which.
var errRowsRefused = errors.New("some rows were refused (see the report)")

// runImport opens the file and the tenant, runs apply as the tenant's
// import service member, and prints the report.
func runImport(ctx context.Context, e env, cfg *config, tenant, path, source string, dryRun, asJSON, progress bool,
	apply func(ctx context.Context, svc *domain.Service, r io.ReadSeeker, opts domain.ImportOptions) (*domain.ImportReport, error)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	in := &countingReader{r: f}
	bar := newProgressBar(e.stderr, st.Size(), in, progress || isTerminal(e.stderr))
	var rep *domain.ImportReport
	err = withStore(ctx, e, cfg, func(db *storage.DB) error {
		t, err := findTenant(ctx, db, tenant)
		if err != nil {
			return err
		}
		actor, err := db.ServiceMember(ctx, t.ID, importActor)
		if err != nil {
			return fmt.Errorf("import member: %w", err)
		}
		// No bus: the servers' subscribers hear the imported assets' events
		// with the next event published, when they read the log from
		// where they are.
		svc := domain.NewService(db, nil, domain.WithLogger(cfg.logger(e.stderr)))
		tctx := tenancy.WithPrincipal(ctx, tenancy.Principal{TenantID: t.ID, TenantSlug: t.Slug, TenantName: t.Name,
			MemberID: actor.ID, MemberName: actor.Name})
		rep, err = apply(tctx, svc, in, domain.ImportOptions{DryRun: dryRun, Source: source, Progress: bar.update})
		return err
	})
	bar.done()
	var fileErr *importcsv.FileError
	if errors.As(err, &fileErr) {
		return fmt.Errorf("%s: %w", path, fileErr)
	}
	if rep != nil {
		if perr := printImport(e.stdout, rep, asJSON); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil {
		return err
	}
	if rep.Refused > 0 {
		return errRowsRefused
	}
	return nil
}

// printImport writes the report.
func printImport(w io.Writer, rep *domain.ImportReport, asJSON bool) error {
	if asJSON {
		return writeJSON(w, rep)
	}
	verb := "imported"
	if rep.DryRun {
		verb = "dry run, nothing written: would import"
	}
	fmt.Fprintf(w, "%s %s: %d created, %d updated, %d unchanged, %d refused\n",
		verb, plural(rep.Records, "record"), rep.Created, rep.Updated, rep.Unchanged, rep.Refused)
	for _, p := range rep.Problems {
		if p.Column != "" {
			fmt.Fprintf(w, "  line %d, %s: %s\n", p.Line, p.Column, p.Message)
		} else {
			fmt.Fprintf(w, "  line %d: %s\n", p.Line, p.Message)
		}
	}
	if rep.ProblemsTruncated > 0 {
		fmt.Fprintf(w, "  ... and %d more\n", rep.ProblemsTruncated)
	}
	return nil
}

// countingReader counts the bytes read, for the progress bar.
type countingReader struct {
	r io.ReadSeeker
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Seek moves in the file (the import checks the file once, then rewinds to
// apply it); the count follows, so the bar shows the pass under way.
func (c *countingReader) Seek(offset int64, whence int) (int64, error) {
	pos, err := c.r.Seek(offset, whence)
	if err == nil {
		c.n.Store(pos)
	}
	return pos, err
}

// progressBar draws how far an import has read its file, at most ten
// times a second, on one line of w.
type progressBar struct {
	w       io.Writer
	size    int64
	in      *countingReader
	on      bool
	start   time.Time
	last    time.Time
	records int
}

func newProgressBar(w io.Writer, size int64, in *countingReader, on bool) *progressBar {
	return &progressBar{w: w, size: size, in: in, on: on, start: time.Now()}
}

func (b *progressBar) update(records int) {
	b.records = records
	if !b.on || time.Since(b.last) < 100*time.Millisecond {
		return
	}
	b.last = time.Now()
	b.draw()
}

func (b *progressBar) draw() {
	const width = 30
	frac := 1.0
	if b.size > 0 {
		frac = min(float64(b.in.n.Load())/float64(b.size), 1)
	}
	filled := int(frac * width)
	rate := float64(b.records) / max(time.Since(b.start).Seconds(), 0.001)
	fmt.Fprintf(b.w, "\r[%s%s] %3.0f%%  %d records  %.0f/s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, b.records, rate)
}

func (b *progressBar) done() {
	if !b.on {
		return
	}
	b.draw()
	fmt.Fprintln(b.w)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
