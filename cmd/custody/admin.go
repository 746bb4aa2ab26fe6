package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/domain/storage"
	"github.com/custody-dev/custody/graph"
	"github.com/custody-dev/custody/graph/server"
)

func migrateCmd() *command {
	return &command{
		name:    "migrate",
		args:    "[flags]",
		summary: "apply pending database migrations (as the schema owner: MIGRATION_DATABASE_URL on PostgreSQL)",
		kind:    migrateCommand,
		run: func(ctx context.Context, e env, cfg *config) error {
			sc := cfg.startConfig(cfg.logger(e.stderr))
			if err := ensureDataDir(sc); err != nil {
				return err
			}
			applied, err := storage.Migrate(ctx, sc.StorageConfig())
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if len(applied) == 0 {
				fmt.Fprintln(e.stdout, "Database schema is up to date.")
				return nil
			}
			fmt.Fprintf(e.stdout, "Applied %d migration(s): %v\n", len(applied), applied)
			return nil
		},
	}
}

// slugPattern is what a tenant slug may look like: it appears in URLs and
// on the command line.
var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

func tenantCreateCmd() *command {
	var slug, name string
	return &command{
		name:    "tenant create",
		args:    "--slug <slug> --name <name> [flags]",
		summary: "create a tenant (a customer organisation)",
		kind:    adminCommand,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&slug, "slug", "", "short unique name: lowercase letters, digits and hyphens")
			fs.StringVar(&name, "name", "", "display name")
		},
		run: func(ctx context.Context, e env, cfg *config) error {
			if !slugPattern.MatchString(slug) {
				return usagef("--slug must be 1-63 lowercase letters, digits or inner hyphens, got %q", slug)
			}
			name = strings.TrimSpace(name)
			if name == "" || len(name) > 200 {
				return usagef("--name is required (at most 200 characters)")
			}
			return withStore(ctx, e, cfg, func(db *storage.DB) error {
				t := domain.Tenant{ID: domain.NewID(), Slug: slug, Name: name,
					CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
				if err := db.CreateTenant(ctx, &t); err != nil {
					if errors.Is(err, domain.ErrDuplicate) {
						return fmt.Errorf("a tenant with slug %q already exists", slug)
					}
					return fmt.Errorf("create tenant: %w", err)
				}
				fmt.Fprintf(e.stdout, "Created tenant %s (%s), id %s.\nNext: custody token create --tenant %s --role admin --name \"First admin\"\n",
					t.Slug, t.Name, t.ID, t.Slug)
				return nil
			})
		},
	}
}

func tokenCreateCmd() *command {
	var tenant, role, name, kind, vendor string
	return &command{
		name:    "token create",
		args:    "--tenant <slug|id> --role <role> --name <name> [--kind SERVICE|PERSON] [--vendor <vendor id>] [flags]",
		summary: "create a member holding a role and an API token for it; the token is printed once",
		kind:    adminCommand,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tenant, "tenant", "", "tenant slug or id")
			fs.StringVar(&role, "role", "", "role: "+roleList())
			fs.StringVar(&name, "name", "", "name of the member and of its token")
			fs.StringVar(&kind, "kind", string(domain.MemberService), "member kind: SERVICE (an integration) or PERSON")
			fs.StringVar(&vendor, "vendor", "", "with --role "+string(domain.RoleITADVendor)+
				": the ITAD vendor the member works for (its id, as the API returns it, or the bare UUID)")
		},
		run: func(ctx context.Context, e env, cfg *config) error {
			if tenant == "" {
				return usagef("--tenant is required")
			}
			if !domain.Role(role).Valid() {
				return usagef("--role must be one of %s, got %q", roleList(), role)
			}
			k := domain.MemberKind(strings.ToUpper(kind))
			if k != domain.MemberService && k != domain.MemberPerson {
				return usagef("--kind must be SERVICE or PERSON, got %q", kind)
			}
			if strings.TrimSpace(name) == "" {
				return usagef("--name is required")
			}
			var vendorID string
			if vendor != "" {
				if domain.Role(role) != domain.RoleITADVendor {
					return usagef("--vendor is only for --role %s (the vendor's staff), not %s", domain.RoleITADVendor, role)
				}
				var ok bool
				if vendorID, ok = parseVendorID(vendor); !ok {
					return usagef("--vendor must be a vendor id (as the API returns it, or a UUID), got %q", vendor)
				}
			}
			return withStore(ctx, e, cfg, func(db *storage.DB) error {
				t, err := findTenant(ctx, db, tenant)
				if err != nil {
					return err
				}
				var issued *server.IssuedToken
				if vendorID != "" {
					issued, err = server.CreateVendorStaffToken(ctx, db, t.ID, vendorID, k, name)
				} else {
					issued, err = server.CreateMemberToken(ctx, db, t.ID, k, name, domain.Role(role))
				}
				if vendorID != "" && errors.Is(err, domain.ErrNotFound) {
					return fmt.Errorf("no vendor %s in tenant %s (the vendors query lists them)", vendor, t.Slug)
				}
				if err != nil {
					return err
				}
				forVendor := ""
				if vendorID != "" {
					forVendor = " for vendor " + vendorID
				}
				fmt.Fprintf(e.stdout, "Created %s member %q (id %s) with role %s%s in tenant %s.\n",
					strings.ToLower(string(k)), issued.Member.Name, issued.Member.ID, role, forVendor, t.Slug)
				fmt.Fprintf(e.stdout, "Token id %s. The token is shown only now; store it safely:\n\n%s\n",
					issued.Token.ID, issued.Plaintext)
				return nil
			})
		},
	}
}

// parseVendorID returns the database id --vendor names: the GraphQL global
// id of a Vendor (what the API returns) or a bare UUID.
func parseVendorID(s string) (string, bool) {
	if u, err := uuid.Parse(s); err == nil {
		return u.String(), true
	}
	if typ, id, ok := graph.DecodeID(s); ok && typ == "Vendor" {
		return id, true
	}
	return "", false
}

func tokenRevokeCmd() *command {
	var tenant, id string
	return &command{
		name:    "token revoke",
		args:    "--tenant <slug|id> --id <token id> [flags]",
		summary: "revoke an API token; requests carrying it are refused from now on",
		kind:    adminCommand,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tenant, "tenant", "", "tenant slug or id")
			fs.StringVar(&id, "id", "", "token id (see token list)")
		},
		run: func(ctx context.Context, e env, cfg *config) error {
			if tenant == "" || id == "" {
				return usagef("--tenant and --id are required")
			}
			if _, err := uuid.Parse(id); err != nil {
				return usagef("--id must be a token id (a UUID), got %q", id)
			}
			return withStore(ctx, e, cfg, func(db *storage.DB) error {
				t, err := findTenant(ctx, db, tenant)
				if err != nil {
					return err
				}
				if err := db.RevokeToken(ctx, t.ID, id, time.Now().UTC()); err != nil {
					if errors.Is(err, domain.ErrNotFound) {
						return fmt.Errorf("no token %s in tenant %s", id, t.Slug)
					}
					return fmt.Errorf("revoke token: %w", err)
				}
				fmt.Fprintf(e.stdout, "Revoked token %s in tenant %s.\n", id, t.Slug)
				return nil
			})
		},
	}
}

func tokenListCmd() *command {
	var tenant string
	return &command{
		name:    "token list",
		args:    "--tenant <slug|id> [flags]",
		summary: "list a tenant's API tokens (ids, names, members, revocation; never the secrets)",
		kind:    adminCommand,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tenant, "tenant", "", "tenant slug or id")
		},
		run: func(ctx context.Context, e env, cfg *config) error {
			if tenant == "" {
				return usagef("--tenant is required")
			}
			return withStore(ctx, e, cfg, func(db *storage.DB) error {
				t, err := findTenant(ctx, db, tenant)
				if err != nil {
					return err
				}
				tokens, err := db.ListTokens(ctx, t.ID)
				if err != nil {
					return fmt.Errorf("list tokens: %w", err)
				}
				tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tMEMBER\tCREATED\tREVOKED")
				for _, tok := range tokens {
					revoked := "-"
					if tok.RevokedAt != nil {
						revoked = tok.RevokedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", tok.ID, tok.Name, tok.MemberID,
						tok.CreatedAt.UTC().Format(time.RFC3339), revoked)
				}
				return tw.Flush()
			})
		},
	}
}

// withStore opens the store for an admin command, applying pending
// migrations first unless --no-migrate (as serve does), and closes it after fn.
func withStore(ctx context.Context, e env, cfg *config, fn func(db *storage.DB) error) (err error) {
	if err := cfg.checkMigrationRole(); err != nil {
		return err
	}
	sc := cfg.startConfig(cfg.logger(e.stderr))
	if err := ensureDataDir(sc); err != nil {
		return err
	}
	if sc.Migrate {
		if _, err := storage.Migrate(ctx, sc.StorageConfig()); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	db, err := storage.Open(ctx, sc.StorageConfig())
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	return fn(db)
}

// ensureDataDir creates the embedded store's directory.
func ensureDataDir(sc server.StartConfig) error {
	if !sc.Embedded() {
		return nil
	}
	if err := os.MkdirAll(sc.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

// findTenant resolves a slug or id.
func findTenant(ctx context.Context, db *storage.DB, slugOrID string) (*domain.Tenant, error) {
	t, err := db.GetTenant(ctx, slugOrID)
	if errors.Is(err, domain.ErrNotFound) {
		return nil, fmt.Errorf("no tenant %q", slugOrID)
	}
	if err != nil {
		return nil, fmt.Errorf("look up tenant %q: %w", slugOrID, err)
	}
	return t, nil
}

// roleList names the roles for help and errors.
func roleList() string {
	names := make([]string, len(domain.AllRoles))
	for i, r := range domain.AllRoles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}
