package graph

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/custody-dev/custody/graph/generated"
)

// enumBindings reads gqlgen.yml for the schema enums bound to a domain type
// whose values are the enum's names (those mapping values one by one with
// enum_values, like Role, are left out): schema enum name -> domain type.
func enumBindings(t *testing.T, isEnum func(string) bool) map[string]string {
	t.Helper()
	f, err := os.Open("../gqlgen.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	typeLine := regexp.MustCompile(`^  (\w+):\s*$`)
	modelLine := regexp.MustCompile(`^    model: github\.com/custody-dev/custody/domain\.(\w+)\s*$`)
	out := map[string]string{}
	current := ""
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		line := lines.Text()
		if m := typeLine.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if m := modelLine.FindStringSubmatch(line); m != nil && isEnum(current) {
			out[current] = m[1]
		}
		if strings.TrimSpace(line) == "enum_values:" {
			delete(out, current)
		}
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// domainConstants lists the string constants package domain declares with
// an explicit type, by type.
func domainConstants(t *testing.T) map[string][]string {
	t.Helper()
	entries, err := os.ReadDir("../domain")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	out := map[string][]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, filepath.Join("../domain", e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				typ, ok := vs.Type.(*ast.Ident)
				if !ok {
					continue
				}
				for _, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[typ.Name] = append(out[typ.Name], s)
				}
			}
		}
	}
	return out
}

// Every value a domain enum type can take must be a value of the schema
// enum bound to it, and the reverse: a new domain code, event type or state
// missing from the schema would fail at run time, when it is first
// presented, instead of here.
func TestSchemaEnumsMatchTheDomain(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	isEnum := func(name string) bool { def := schema.Types[name]; return def != nil && def.Kind == "ENUM" }
	bindings := enumBindings(t, isEnum)
	for _, want := range []string{"UserErrorCode", "CustodyEventType", "PickupState", "PickupLineStatus",
		"PickupScanPhase", "ResolutionAction", "SanitizationMethod", "VerificationResult",
		"DispositionOutcomeKind", "PickupSignerRole", "SLAStage", "SLASubjectKind"} {
		if _, ok := bindings[want]; !ok {
			t.Errorf("gqlgen.yml binds no domain type to enum %s", want)
		}
	}
	consts := domainConstants(t)
	for enum, goType := range bindings {
		var names []string
		for _, v := range schema.Types[enum].EnumValues {
			names = append(names, v.Name)
		}
		values := consts[goType]
		if len(values) == 0 {
			t.Errorf("enum %s: package domain declares no constant of type %s", enum, goType)
		}
		for _, v := range values {
			if !slices.Contains(names, v) {
				t.Errorf("enum %s lacks %s, a value of domain.%s", enum, v, goType)
			}
		}
		for _, n := range names {
			if !slices.Contains(values, n) {
				t.Errorf("enum %s has %s, which domain.%s never takes", enum, n, goType)
			}
		}
	}
}
