package authz

import (
	"errors"
	"testing"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/tenancy"
)

func TestAllowed(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		roles []string
		obj   string
		act   string
		want  bool
	}{
		{"admin any mutation", []string{"admin"}, ObjMutation, "personCreate", true},
		{"mailroom receives", []string{"mailroom"}, ObjMutation, "parcelReceive", true},
		{"mailroom cannot create people", []string{"mailroom"}, ObjMutation, "personCreate", false},
		{"hr creates people", []string{"hr"}, ObjMutation, "personCreate", true},
		{"hr cannot hand off", []string{"hr"}, ObjMutation, "assetHandOff", false},
		{"it hands off", []string{"it"}, ObjMutation, "assetHandOff", true},
		{"it cannot receive at the dock", []string{"it"}, ObjMutation, "parcelReceive", false},
		{"auditor reads", []string{"auditor"}, ObjQuery, "assets", true},
		{"auditor cannot write", []string{"auditor"}, ObjMutation, "parcelReceive", false},
		{"vendor never sees a person", []string{"itad_vendor"}, ObjType, "Person", false},
		{"vendor cannot list assets", []string{"itad_vendor"}, ObjQuery, "assets", false},
		{"vendor sees itself", []string{"itad_vendor"}, ObjQuery, "viewer", true},
		{"no role, nothing", nil, ObjQuery, "viewer", false},
		{"roles add up", []string{"hr", "mailroom"}, ObjMutation, "parcelReceive", true},
		{"unknown operation denied", []string{"mailroom"}, ObjMutation, "tenantDelete", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Allowed(tenancy.Principal{TenantID: "t1", Roles: tt.roles}, tt.obj, tt.act)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Allowed(%v, %s.%s) = %v, want %v", tt.roles, tt.obj, tt.act, got, tt.want)
			}
		})
	}
}

func TestCheckFailsClosed(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(tenancy.Principal{Roles: []string{"admin"}}, ObjQuery, "assets"); !errors.Is(err, tenancy.ErrNoTenant) {
		t.Fatalf("no tenant: got %v, want ErrNoTenant", err)
	}
	if err := a.Check(tenancy.Principal{TenantID: "t", Roles: []string{"superuser"}}, ObjQuery, "assets"); err == nil {
		t.Fatal("unknown role must be refused")
	}
	if err := a.Check(tenancy.Principal{TenantID: "t", Roles: []string{"hr"}}, ObjMutation, "parcelReceive"); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("denied: got %v, want ErrForbidden", err)
	}
}

func BenchmarkAllowedCached(b *testing.B) {
	a, _ := New()
	p := tenancy.Principal{TenantID: "t1", Roles: []string{"mailroom"}}
	for b.Loop() {
		if ok, _ := a.Allowed(p, ObjMutation, "assetHandOff"); !ok {
			b.Fatal("denied")
		}
	}
}
