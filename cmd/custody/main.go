// Command custody is the Custody binary: the API server, the operator
// commands that migrate the database and manage tenants, API tokens and
// ledger signing keys, and the verifier that checks custody receipts offline
// and whole tenant logs against the database.
//
// Run `custody help` for the commands and the configuration table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], osEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a command sees of the process: arguments aside, the
// environment and the output streams. Tests run commands in-process with
// their own.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	args    string // usage after the name
	summary string
	kind    commandKind
	run     func(ctx context.Context, e env, cfg *config) error
	// flags registers the command's own flags on fs.
	flags func(fs *flag.FlagSet)
	// operands receives the arguments that are not flags (flags may come
	// before or after them); nil means the command takes none.
	operands func(args []string) error
}

// commands lists the subcommands in the order help shows them.
func commands() []*command {
	return []*command{
		serveCmd(),
		migrateCmd(),
		tenantCreateCmd(),
		tokenCreateCmd(),
		tokenRevokeCmd(),
		tokenListCmd(),
		verifyCmd(),
		importAssetsCmd(),
		importPeopleCmd(),
		keyListCmd(),
		keyRotateCmd(),
		keyGenerateMasterCmd(),
	}
}

// usageError marks a bad invocation (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errReported ends a command with exit code 1 when the command has already
// printed why (a receipt or log that does not verify).
var errReported = errors.New("reported")

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		printHelp(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := findCommand(args[1:]); c != nil {
				printCommandHelp(stdout, c)
				return exitOK
			}
			fmt.Fprintf(stderr, "custody: unknown command %q\n\n", strings.Join(args[1:], " "))
			printHelp(stderr)
			return exitUsage
		}
		printHelp(stdout)
		return exitOK
	}
	c := findCommand(args)
	if c == nil {
		fmt.Fprintf(stderr, "custody: unknown command %q\n\n", strings.Join(args, " "))
		printHelp(stderr)
		return exitUsage
	}
	rest := args[len(strings.Fields(c.name)):]

	fs := flag.NewFlagSet("custody "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed below, once
	cfg := newConfig()
	if err := cfg.bind(fs, getenv, c.kind); err != nil {
		fmt.Fprintf(stderr, "custody %s: %v\n", c.name, err)
		return exitUsage
	}
	if c.flags != nil {
		c.flags(fs)
	}
	operands, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(stdout, c)
			return exitOK
		}
		fmt.Fprintf(stderr, "custody %s: %v\n\n", c.name, err)
		printCommandHelp(stderr, c)
		return exitUsage
	}
	if len(operands) > 0 && c.operands == nil {
		fmt.Fprintf(stderr, "custody %s: unexpected argument %q\n\n", c.name, operands[0])
		printCommandHelp(stderr, c)
		return exitUsage
	}
	if c.operands != nil {
		if err := c.operands(operands); err != nil {
			fmt.Fprintf(stderr, "custody %s: %v\n\n", c.name, err)
			printCommandHelp(stderr, c)
			return exitUsage
		}
	}
	if err := c.run(ctx, e, cfg); err != nil {
		if errors.Is(err, errReported) {
			return exitError
		}
		fmt.Fprintf(stderr, "custody %s: %v\n", c.name, err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

// parseInterspersed parses flags that may come before, between or after
// operands ("verify receipt.json --key k.txt"), which package flag alone
// stops at; everything after "--" is an operand.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return operands, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(operands, rest...), nil
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
}

// findCommand matches the leading words of args against command names
// ("serve", "token create").
func findCommand(args []string) *command {
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) < len(words) {
			continue
		}
		match := true
		for i, w := range words {
			if args[i] != w {
				match = false
				break
			}
		}
		if match {
			return c
		}
	}
	return nil
}

// printHelp lists the commands and the configuration table.
func printHelp(w io.Writer) {
	fmt.Fprint(w, `Custody keeps a verifiable chain of custody for IT assets, served as a GraphQL API.

Usage: custody <command> [flags]    (custody help <command> shows its flags)

Commands:
`)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "  help [command]\tshow this help, or a command's flags\n")
	_ = tw.Flush()
	fmt.Fprint(w, `
Configuration (flags override environment variables, which override defaults):
`)
	printSettings(w, serveCommand)
	fmt.Fprint(w, `
With no configuration at all, "custody serve" runs on an embedded SQLite file in
./custody-data and prints API tokens for a demo tenant. See README.md.
`)
}

// printCommandHelp shows one command's usage and flags.
func printCommandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: custody %s %s\n\n%s\n", c.name, c.args, c.summary)
	if c.flags != nil {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs)
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if c.kind != offlineCommand {
		fmt.Fprintln(w, "\nConfiguration:")
		printSettings(w, c.kind)
	}
}
