// Command sizes checks that a package stays readable: no non-test file
// over -file lines and no function over -func lines. It prints each
// offender and exits 1 when there is one.
//
//	go run ./hack/sizes pkg/driver pkg/node
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	maxFile := flag.Int("file", 600, "most lines in a non-test file")
	maxFunc := flag.Int("func", 80, "most lines in a function, signature to closing brace")
	flag.Parse()
	var bad []string
	for _, dir := range flag.Args() {
		b, err := check(dir, *maxFile, *maxFunc)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		bad = append(bad, b...)
	}
	sort.Strings(bad)
	for _, b := range bad {
		fmt.Println(b)
	}
	if len(bad) > 0 {
		fmt.Printf("%d over the limits (file %d lines, function %d lines)\n", len(bad), *maxFile, *maxFunc)
		os.Exit(1)
	}
	fmt.Printf("ok: %s (no non-test file over %d lines, no function over %d lines)\n", strings.Join(flag.Args(), " "), *maxFile, *maxFunc)
}

// check looks at the non-test Go files of dir and every directory below it.
func check(root string, maxFile, maxFunc int) ([]string, error) {
	var bad []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		if n := fset.File(f.Pos()).LineCount(); n > maxFile {
			bad = append(bad, fmt.Sprintf("%s: %d lines", path, n))
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var name string
			var body *ast.BlockStmt
			switch fn := n.(type) {
			case *ast.FuncDecl:
				name, body = fn.Name.Name, fn.Body
			case *ast.FuncLit:
				name, body = "func literal", fn.Body
			default:
				return true
			}
			if body == nil {
				return true
			}
			start, end := fset.Position(n.Pos()), fset.Position(body.End())
			if lines := end.Line - start.Line + 1; lines > maxFunc {
				bad = append(bad, fmt.Sprintf("%s:%d: %s: %d lines", path, start.Line, name, lines))
			}
			return true
		})
		return nil
	})
	return bad, err
}
