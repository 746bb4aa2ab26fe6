package graph

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/custody-dev/custody/authz"
	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/generated"
	"github.com/custody-dev/custody/tenancy"
)

// The schema is the public contract: everything in it must say what it means.
func TestSchemaIsFullyDocumented(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	for name, def := range schema.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		if strings.TrimSpace(def.Description) == "" {
			t.Errorf("type %s has no description", name)
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if strings.TrimSpace(f.Description) == "" {
				t.Errorf("field %s.%s has no description", name, f.Name)
			}
			for _, a := range f.Arguments {
				if strings.TrimSpace(a.Description) == "" {
					t.Errorf("argument %s.%s(%s) has no description", name, f.Name, a.Name)
				}
			}
		}
		for _, v := range def.EnumValues {
			if strings.TrimSpace(v.Description) == "" {
				t.Errorf("enum value %s.%s has no description", name, v.Name)
			}
		}
	}
}

// Every operation the policy names must exist in the schema, or a typo
// would silently deny (or, with a wildcard role, not matter until it does).
func TestPolicyNamesSchemaFields(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	roots := map[string]*ast.Definition{"Query": schema.Query, "Mutation": schema.Mutation, "Subscription": schema.Subscription}
	f, err := os.Open("../authz/policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if len(parts) != 5 || parts[0] != "p" {
			continue
		}
		obj, act := parts[3], parts[4]
		if act == "*" {
			continue
		}
		if obj == "Topic" {
			if !slices.Contains(domain.AllTopics, domain.Topic(act)) {
				t.Errorf("policy %q names topic %s, which domain.AllTopics lacks", line, act)
			}
			continue
		}
		if obj == "Export" {
			if !slices.Contains(ExportNames(), act) {
				t.Errorf("policy %q names export %s, which ExportNames lacks", line, act)
			}
			continue
		}
		if obj == "Type" {
			if schema.Types[act] == nil {
				t.Errorf("policy %q names type %s, which the schema lacks", line, act)
			}
			continue
		}
		root, ok := roots[obj]
		if !ok {
			t.Errorf("policy %q names unknown object %s", line, obj)
			continue
		}
		if root == nil || root.Fields.ForName(act) == nil {
			t.Errorf("policy %q names %s.%s, which the schema lacks", line, obj, act)
		}
	}
}

// An ITAD vendor works from manifest lines: whatever root field its role
// allows, no path through the schema may reach an employee, an asset record,
// a signature, a custody event or IT's shelf count, except through a field
// of a guarded type it is denied (which answers null and FORBIDDEN).
func TestVendorReachesNoPersonalOrAssetData(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	az, err := authz.New()
	if err != nil {
		t.Fatal(err)
	}
	vendor := tenancy.Principal{TenantID: "t", Roles: []string{string(domain.RoleITADVendor)}}
	allowed := func(obj, act string) bool {
		ok, err := az.Allowed(vendor, obj, act)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// via remembers how each type was first reached, to name the path.
	via := map[string]string{}
	var visit func(typeName, path string)
	visit = func(typeName, path string) {
		def := schema.Types[typeName]
		if def == nil || def.BuiltIn || via[typeName] != "" {
			return
		}
		if guardedTypes[typeName] && !allowed(authz.ObjType, typeName) {
			return
		}
		via[typeName] = path
		for _, f := range def.Fields {
			if !strings.HasPrefix(f.Name, "__") {
				visit(f.Type.Name(), path+"."+f.Name)
			}
		}
		for _, impl := range schema.GetPossibleTypes(def) {
			visit(impl.Name, path+"<"+impl.Name+">")
		}
	}
	roots := []*ast.Definition{schema.Query, schema.Mutation}
	// The live log delivers only the topics the role may hear.
	for _, topic := range domain.AllTopics {
		if allowed(authz.ObjTopic, string(topic)) {
			roots = append(roots, schema.Subscription)
			break
		}
	}
	for _, root := range roots {
		for _, f := range root.Fields {
			if allowed(root.Name, f.Name) {
				visit(f.Type.Name(), root.Name+"."+f.Name)
			}
		}
	}
	if via["PickupOrder"] == "" || via["PickupPhaseReport"] == "" || via["Certificate"] == "" {
		t.Fatalf("the vendor's own work is unreachable: %v", via)
	}
	for _, denied := range []string{"Person", "Asset", "Signature", "Parcel", "OffboardingCase", "OffboardingCaseItem",
		"AssetReturn", "CustodyEvent", "PickupCountReport", "DispositionReportRow", "SLABreach"} {
		if path := via[denied]; path != "" {
			t.Errorf("an ITAD vendor reaches %s through %s", denied, path)
		}
	}
}
