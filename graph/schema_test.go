package graph

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/custody-dev/custody/domain"
	"github.com/custody-dev/custody/graph/generated"
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
