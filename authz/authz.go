// Package authz decides whether a principal may perform an operation, with
// casbin v2 RBAC with domains (domain = tenant). What each role may do is code:
// the embedded model.conf and policy.csv. Who holds which role in which tenant
// comes from the database, through the principal the authenticator built.
package authz

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
)

//go:embed model.conf
var modelText string

//go:embed policy.csv
var policyText string

// Object kinds that policies name.
const (
	ObjQuery        = "Query"
	ObjMutation     = "Mutation"
	ObjSubscription = "Subscription"
	// ObjType guards object types that carry personal data wherever they
	// appear (a Person reached through an asset's holder, say).
	ObjType = "Type"
	// ObjTopic names the classes of custody events a role hears live
	// (domain.Topic: custody, returns, offboarding, pickups, sla).
	ObjTopic = "Topic"
	// ObjExport names the CSV exports a role may download (act: the
	// export's name in its URL, e.g. custody-log).
	ObjExport = "Export"
)

// Authorizer answers permission checks. It is safe for concurrent use.
type Authorizer struct {
	base model.Model
	// enforcers caches one read-only enforcer per (tenant, role set), so no
	// request mutates state another request reads.
	mu        sync.Mutex
	enforcers map[string]*casbin.Enforcer
	// decisions memoises answers: the policy is immutable for the life of
	// the process and casbin's matcher costs tens of microseconds a call.
	decisions sync.Map
}

// New loads the embedded model and policy.
func New() (*Authorizer, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("authz: parse model: %w", err)
	}
	e, err := casbin.NewEnforcer(m, stringadapter.NewAdapter(policyLines()))
	if err != nil {
		return nil, fmt.Errorf("authz: load policy: %w", err)
	}
	return &Authorizer{base: e.GetModel(), enforcers: map[string]*casbin.Enforcer{}}, nil
}

// policyLines drops comments and blank lines, which the string adapter does not accept.
func policyLines() string {
	var b strings.Builder
	for _, line := range strings.Split(policyText, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// Allowed reports whether p may perform act on obj in p's tenant.
func (a *Authorizer) Allowed(p tenancy.Principal, obj, act string) (bool, error) {
	if p.TenantID == "" {
		return false, tenancy.ErrNoTenant
	}
	key := p.TenantID + "|" + strings.Join(p.Roles, ",") + "|" + obj + "|" + act
	if ok, hit := a.decisions.Load(key); hit {
		return ok.(bool), nil
	}
	e, err := a.enforcerFor(p.TenantID, p.Roles)
	if err != nil {
		return false, err
	}
	ok, err := e.Enforce(memberSubject, p.TenantID, obj, act)
	if err != nil {
		return false, fmt.Errorf("authz: enforce %s.%s: %w", obj, act, err)
	}
	a.decisions.Store(key, ok)
	return ok, nil
}

// Check is Allowed as an error: domain.ErrForbidden when denied.
func (a *Authorizer) Check(p tenancy.Principal, obj, act string) error {
	ok, err := a.Allowed(p, obj, act)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s.%s: %w", obj, act, domain.ErrForbidden)
	}
	return nil
}

// memberSubject stands for "the caller" in a per-(tenant, roles) enforcer:
// its grouping lines give it the caller's roles in the caller's tenant only.
const memberSubject = "member"

// maxCachedEnforcers bounds the cache; past it the cache starts afresh.
const maxCachedEnforcers = 4096

// enforcerFor returns an enforcer whose only subject holds roles in tenant,
// built once from a copy of the base model.
func (a *Authorizer) enforcerFor(tenant string, roles []string) (*casbin.Enforcer, error) {
	key := tenant + "|" + strings.Join(roles, ",")
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.enforcers[key]; ok {
		return e, nil
	}
	if len(a.enforcers) >= maxCachedEnforcers {
		a.enforcers = map[string]*casbin.Enforcer{}
		a.decisions.Clear()
	}
	e, err := casbin.NewEnforcer(a.base.Copy())
	if err != nil {
		return nil, fmt.Errorf("authz: build enforcer: %w", err)
	}
	for _, r := range roles {
		if !domain.Role(r).Valid() {
			return nil, fmt.Errorf("authz: unknown role %q", r)
		}
		if _, err := e.AddGroupingPolicy(memberSubject, r, tenant); err != nil {
			return nil, fmt.Errorf("authz: grant role %s: %w", r, err)
		}
	}
	a.enforcers[key] = e
	return e, nil
}
